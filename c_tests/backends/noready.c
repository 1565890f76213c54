/* Test backend 'noready': full lifecycle but no TRITONBACKEND_ModelInstanceReady export
 * (instances must then count as ready). */
#include "backend_common.h"
