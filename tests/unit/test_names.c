/*
 * test_names.c - unit tests for proto/names: each validator against a table
 * of names it must accept and names it must refuse, with the part of the
 * message that says why.  tests/cli/names.sh walks bad names through the
 * verbs and `hgslab run --check` and asserts that both refuse them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "lib/err.h"
#include "proto/names.h"
#include "tests/unit/testutil.h"

enum kind { COMPUTER, GROUP, SID, HGS, VM, GUARDIAN, REG };

struct name_case {
	enum kind kind;
	const char *name;   /* NULL stands for a NULL pointer */
	const char *why;    /* NULL: must be accepted; else a part of the refusal */
};

/* Run the validator of KIND on NAME. */
static int check(enum kind kind, const char *name)
{
	switch (kind) {
	case COMPUTER: return hl_name_computer("host name", name);
	case GROUP: return hl_name_group(name);
	case SID: return hl_name_sid(name);
	case HGS: return hl_name_hgs(name);
	case VM: return hl_name_vm(name);
	case GUARDIAN: return hl_name_guardian(name);
	case REG: return hl_name_registration("TPM host name", name);
	}
	return 0;
}

static const struct name_case cases[] = {
	{ COMPUTER, "FabricHost1", NULL },
	{ COMPUTER, "A", NULL },
	{ COMPUTER, "Host-2", NULL },
	{ COMPUTER, "FabricHost12345", NULL },                   /* 15: the NetBIOS limit */
	{ COMPUTER, "FabricHost123456", "1 to 15 characters" },  /* 16 */
	{ COMPUTER, "FabricHost1234567890", "1 to 15 characters" },
	{ COMPUTER, "", "1 to 15 characters" },
	{ COMPUTER, NULL, "1 to 15 characters" },
	{ COMPUTER, "Fabric_Host.1", "letters, digits and '-' only" },
	{ COMPUTER, "Fabric Host", "letters, digits and '-' only" },
	{ COMPUTER, "Host/1", "letters, digits and '-' only" },
	{ COMPUTER, "H\xc3\xa9te", "letters, digits and '-' only" },
	{ COMPUTER, "-Host", "must not start with '-'" },
	{ COMPUTER, "12345", "be all digits" },
	{ GROUP, "GuardedHosts", NULL },
	{ GROUP, "Guarded Hosts", NULL },
	{ GROUP, "", "1 to 63 characters" },
	{ GROUP, "Guarded/Hosts", "printable ASCII without" },
	{ GROUP, "a@b", "printable ASCII without" },
	{ GROUP, " Guarded", "start or end with a space" },
	{ GROUP, "Guarded\tHosts", "printable ASCII without" },
	{ SID, "S-1-5-21-3623811015-3361044348-30300820-1013", NULL },
	{ SID, "S-1-5-32", NULL },
	{ SID, "S-1-5", "invalid SID" },
	{ SID, "S-1-5-", "invalid SID" },
	{ SID, "S-1-281474976710656", "invalid SID" },            /* authority above 48 bits */
	{ SID, "S-1-5-4294967296", "invalid SID" },               /* sub-authority above 32 bits */
	{ SID, "GuardedHosts", "invalid SID 'GuardedHosts'" },
	{ SID, "S-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1", NULL },  /* 16 parts */
	{ SID, "S-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1", "invalid SID" },  /* 17 parts */
	/* found by tests/fuzz/fuzz_names: valid in form, longer than the SID buffers (79) */
	{ SID, "S-1-5-21-20086-5-21-2008672696-1177238915-682003330-1101-48-1518026863-682003330",
	  "longer than 79 characters" },
	{ SID, "S-1-5-21-20086-5-21-2008672696-1177238915-682003330-1101-48-1518026863-68200333",
	  NULL },
	{ SID, NULL, "invalid SID" },
	{ HGS, "MyHgsService", NULL },
	{ HGS, "hgs.relecloud_2-x", NULL },
	{ HGS, "", "invalid HGS name" },
	{ HGS, "My Hgs", "invalid HGS name" },
	{ HGS, "MyHgsServiceMyHgsServiceMyHgsServiceMyHgs", "1 to 40 characters" },  /* 41 */
	{ VM, "ShieldedVM1", NULL },
	{ VM, "vm.1_a-b", NULL },
	{ VM, ".hidden", "bad VM name" },
	{ VM, "a/b", "bad VM name" },
	{ VM, "", "bad VM name" },
	{ GUARDIAN, "Owner", NULL },
	{ GUARDIAN, "MyHgsService", NULL },
	{ GUARDIAN, "", "the guardian name is empty" },
	{ GUARDIAN, ".Owner", "starts with '.'" },
	{ GUARDIAN, "x/../y", "contains '/'" },
	{ GUARDIAN, "Owner 1", "contains ' '" },
	{ REG, "FabricHost1", NULL },
	{ REG, "Baseline 2 (firmware 1.2)", NULL },
	{ REG, "", "invalid TPM host name '': it must have 1 to 63 characters" },
	{ REG, " x", "must not start or end with a space" },
	{ REG, "a\x01b", "printable ASCII characters only" },
};

/* Every case: accepted names return 0, refused ones -1 with their reason. */
static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct name_case *c = &cases[i];
		int rc;

		hl_error_clear();
		rc = check(c->kind, c->name);
		if (!c->why && rc != 0)
			fail_msg("case %zu '%s': refused: %s", i, c->name ? c->name : "(null)",
				 hl_error_last());
		if (c->why && (rc != -1 || !strstr(hl_error_last(), c->why)))
			fail_msg("case %zu '%s': rc %d, message '%s', expected it to say '%s'", i,
				 c->name ? c->name : "(null)", rc, hl_error_last(), c->why);
	}
}

/* The longest valid name of each kind fits its buffer size; one more is refused. */
static void test_limits(void **state)
{
	char buf[80];

	(void)state;
	memset(buf, 'a', sizeof(buf));
	buf[HL_NAME_VM_SIZE - 1] = '\0';
	assert_int_equal(hl_name_vm(buf), 0);
	assert_int_equal(hl_name_guardian(buf), 0);
	buf[HL_NAME_VM_SIZE - 1] = 'a';
	buf[HL_NAME_VM_SIZE] = '\0';
	assert_int_equal(hl_name_vm(buf), -1);
	assert_int_equal(hl_name_guardian(buf), -1);
	memset(buf, 'a', sizeof(buf));
	buf[HL_NAME_HGS_SIZE - 1] = '\0';
	assert_int_equal(hl_name_hgs(buf), 0);
	memset(buf, 'a', sizeof(buf));
	buf[HL_NAME_GROUP_SIZE - 1] = '\0';
	assert_int_equal(hl_name_group(buf), 0);
	buf[HL_NAME_GROUP_SIZE - 1] = 'a';
	buf[HL_NAME_GROUP_SIZE] = '\0';
	assert_int_equal(hl_name_group(buf), -1);
}

/* The kind's word comes from the caller: "computer name" for the directory, "host name" for a host. */
static void test_computer_what(void **state)
{
	(void)state;
	assert_int_equal(hl_name_computer("computer name", "a_b"), -1);
	assert_error_has("invalid computer name 'a_b'");
	assert_int_equal(hl_name_computer("host name", "a_b"), -1);
	assert_error_has("invalid host name 'a_b'");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_computer_what),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
