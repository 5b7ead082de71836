/* version.h - the hgslab version string. */
#ifndef HGSLAB_SIM_VERSION_H
#define HGSLAB_SIM_VERSION_H
#define HGSLAB_VERSION "0.1.0"
#endif
