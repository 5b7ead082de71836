/* version.h - the hgslab version string. */
#ifndef HGSLAB_CMD_VERSION_H
#define HGSLAB_CMD_VERSION_H
#define HGSLAB_VERSION "0.1.0"
#endif
