/* resolv_probe built to call the pre-2.34 __res_* names. */
#define OLD_NAMES 1
#include "resolv_probe.c"
