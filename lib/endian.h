/*
 * endian.h - little-endian reads and writes of 16, 32 and 64-bit integers at
 * a byte pointer, for the formats that store them that way (TCG PC Client
 * event logs, WBCL/SIPA tagged events).  TPM structures are big-endian and
 * go through libtss2-mu instead, never through these.
 */
#ifndef HGSLAB_LIB_ENDIAN_H
#define HGSLAB_LIB_ENDIAN_H

#include <stdint.h>

/* The little-endian UINT16 at P. */
static inline uint16_t hl_get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

/* The little-endian UINT32 at P. */
static inline uint32_t hl_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

/* The little-endian UINT64 at P. */
static inline uint64_t hl_get_le64(const uint8_t *p)
{
	return (uint64_t)hl_get_le32(p) | ((uint64_t)hl_get_le32(p + 4) << 32);
}

/* Store V little-endian at P. */
static inline void hl_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* Store V little-endian at P. */
static inline void hl_put_le32(uint8_t *p, uint32_t v)
{
	hl_put_le16(p, (uint16_t)v);
	hl_put_le16(p + 2, (uint16_t)(v >> 16));
}

/* Store V little-endian at P. */
static inline void hl_put_le64(uint8_t *p, uint64_t v)
{
	hl_put_le32(p, (uint32_t)v);
	hl_put_le32(p + 4, (uint32_t)(v >> 32));
}

#endif
