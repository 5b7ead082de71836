/*
 * launch.h - the VM launcher: one run of a VM under QEMU with its vTPM, used
 * by a guarded host's VM keeper (hosts/vm.c, start-vm), the tenant's
 * provisioning boot (tenant/vm.c, shield-vm) and the boot benchmark.
 *
 * vm_launch() starts a swtpm on the VM's vTPM state with the state key (the
 * TK) written into a pipe that swtpm reads as fd 3 (`--key
 * fd=3,format=binary,mode=aes-256-cbc`: never a file, a command line or the
 * environment) and the state folder as an inherited descriptor, fd 4
 * (`--tpmstate dir=/proc/self/fd/4`: the folder may be renamed while swtpm
 * runs, its state writes follow it), then QEMU (-nodefaults, qboot, the guest kernel and
 * initramfs, the vTPM as tpm-crb, the guest agent's virtio-serial port
 * org.hgslab.agent on a unix socket the launcher listens on, so QEMU connects
 * at start and no event is lost).  vm_launch_await() reads the agent's JSON
 * events (guest/README.md) until the one asked for, an "error" event, QEMU's
 * end or a deadline; vm_launch_send() writes the host's lines to the agent
 * on the same channel (the specialize mode reads them).  swtpm exits by
 * itself when QEMU ends.
 *
 * A run keeps its sockets and logs in its run folder (short path: unix
 * socket names are at most 107 bytes):
 *
 *   RUN/swtpm.sock  RUN/swtpm.log   the vTPM (absent without a vTPM)
 *   RUN/agent.sock                  the guest agent's channel
 *   RUN/qemu.log                    QEMU's output
 *   RUN/console.log | console.sock  the serial console, when asked
 *
 * QMP, when asked, has no path: QEMU gets one end of a socket pair as its
 * fd VM_LAUNCH_QMP_FD (`-chardev socket,id=qmp,fd=3 -mon
 * chardev=qmp,mode=control`) and only the launcher holds the other, so no
 * other process (a host administrator's included) can open QEMU's monitor.
 * The launcher sends only what the lab needs - qmp_capabilities,
 * query-status, system_powerdown (vm_launch_qmp) - never dump-guest-memory,
 * human-monitor-command or the like.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); *out = NULL on
 * entry; destructors are NULL-safe.
 */
#ifndef HGSLAB_VM_LAUNCH_H
#define HGSLAB_VM_LAUNCH_H

#include <stdint.h>

#include <jansson.h>

#include "lib/crypto.h"

#define VM_LAUNCH_QBOOT "/usr/share/qemu/qboot.rom"

/* The fd swtpm gets the vTPM state folder as (`--tpmstate dir=/proc/self/fd/4`). */
#define VM_LAUNCH_VTPM_FD 4

/* The fd QEMU gets its end of QMP's socket pair as. */
#define VM_LAUNCH_QMP_FD 3

/* What the VM's disk holds beyond the image the guest copies in: the LUKS2 header. */
#define VM_LAUNCH_LUKS_ROOM ((uint64_t)16 << 20)

/* What one VM run needs. */
struct vm_launch {
	const char *guest_dir;   /* vmlinuz, initramfs.cpio */
	const char *run_dir;     /* sockets and logs (must exist; short path) */
	const char *vtpm_dir;    /* the swtpm state; NULL: no vTPM, no swtpm (the plain baseline) */
	const char *disk;        /* the VM's (LUKS2) disk */
	const char *plain;       /* provisioning only: the plain disk, read-only */
	const char *template_disk; /* specialize only: the protected template disk, read-only
				      (virtio serial hgslab-template) */
	const char *mode;        /* "provision", "specialize", "run" or "plain" */
	int then_run;            /* specialize only: the guest goes on into run mode after
				    `provisioned` (hgslab.then=run) instead of powering off */
	const char *accel;       /* "tcg" or "kvm" */
	int console;             /* 0: none; 1: console.log file; 2: console.sock socket */
	int qmp;                 /* QMP on a socket pair only the launcher holds (above) */
	const struct hl_buf *tk; /* the vTPM state key (HL_KP_TK_LEN bytes); unused without vtpm_dir */
	const char *append;      /* more kernel arguments, for diagnostics (bench boot); NULL: none.
				    Never set for a host's start-vm: the host does not choose a
				    shielded VM's boot. */
};

/* One running VM: swtpm, QEMU and the agent channel. */
struct vm_launch_proc;

/*
 * The guest folder, malloc'd (NULL when out of memory): GIVEN (--guest), else
 * $HGSLAB_GUEST_DIR, else build/guest beside the binary (bin/, build/X/bin/),
 * else an installed hgslab's PREFIX/share/hgslab/guest (PREFIX/bin/hgslab),
 * else "build/guest".
 */
char *vm_launch_guest_dir(const char *given);

/* Start swtpm then QEMU for L into *OUT. */
int vm_launch(const struct vm_launch *l, struct vm_launch_proc **out);

/*
 * Wait for the guest's event WANT ("provisioned", "running") for at most
 * TIMEOUT_S seconds; *EVENT (may be NULL) gets it.  PROGRESS (may be NULL)
 * prefixes a progress line on stderr every 5 s.  -1 on an "error" event
 * (stage and reason in the message), QEMU's end or the deadline.
 */
int vm_launch_await(struct vm_launch_proc *p, const char *want, int timeout_s,
		    const char *progress, json_t **event);

/*
 * Write LEN bytes of LINE (one or more JSON lines, each ending in '\n') to
 * the guest agent on its channel, waiting for QEMU's connection and for
 * room at most TIMEOUT_MS.  The bytes may be a secret: nothing here copies,
 * logs or keeps them (the caller cleanses its buffer).  -1 when QEMU ended,
 * closed the channel or the time ran out.
 */
int vm_launch_send(struct vm_launch_proc *p, const void *line, size_t len, int timeout_ms);

/* Seconds since vm_launch() began (swtpm's start included). */
double vm_launch_elapsed(const struct vm_launch_proc *p);

/* Wait up to MS for QEMU to end (<0: forever), then for swtpm (bounded), stopping what remains. */
int vm_launch_end(struct vm_launch_proc *p, int ms);

/* Free P, killing QEMU and swtpm if they still run.  NULL-safe. */
void vm_launch_proc_free(struct vm_launch_proc *p);

/* Remove a finished run's sockets and logs from RUN_DIR (what is absent is skipped). */
void vm_launch_scratch_remove(const char *run_dir);

/*
 * Send QMP COMMAND to P's QEMU and wait for its answer (10 s; events are
 * skipped), the greeting and qmp_capabilities first the first time; its
 * "return" into *RET (may be NULL; json_decref it).  COMMAND must be one of
 * qmp_capabilities, query-status, system_powerdown: any other is refused
 * without a byte sent ("QMP command 'X' is not one the lab sends").  -1
 * when P has no QMP, QEMU refused (its reason in the message), ended or
 * did not answer.
 */
int vm_launch_qmp(struct vm_launch_proc *p, const char *command, json_t **ret);

/* How often vm_launch_poll looks whether the vTPM's swtpm still runs. */
#define VM_LAUNCH_SWTPM_CHECK_MS 200

/*
 * Poll FD for input while P's QEMU and its vTPM's swtpm run: 1 when FD is
 * readable, 0 after TIMEOUT_MS (<0: none), -1 once QEMU ended, -2 once
 * swtpm ended (seen within VM_LAUNCH_SWTPM_CHECK_MS; "the vTPM's swtpm
 * ended ...") - for a keeper that waits for the VM's end and for requests
 * at once.
 */
int vm_launch_poll(struct vm_launch_proc *p, int fd, int timeout_ms);

/* "kvm" when KVM is proved usable (cpuinfo vmx/svm, /dev/kvm, a bounded QEMU probe), else "tcg". */
const char *vm_launch_accel_auto(void);

#endif
