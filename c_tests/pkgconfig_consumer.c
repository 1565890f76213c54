/* Built with nothing but `pkg-config --cflags --libs tritonserver`. */
#include <stdio.h>

#include "triton/core/tritonserver.h"

int
main(void)
{
  uint32_t major = 0, minor = 0;
  TRITONSERVER_Error* err = TRITONSERVER_ApiVersion(&major, &minor);
  if (err != NULL) {
    fprintf(stderr, "TRITONSERVER_ApiVersion: %s\n", TRITONSERVER_ErrorMessage(err));
    TRITONSERVER_ErrorDelete(err);
    return 1;
  }
  printf("TRITONSERVER API %u.%u\n", major, minor);
  return major == TRITONSERVER_API_VERSION_MAJOR &&
                 minor == TRITONSERVER_API_VERSION_MINOR
             ? 0
             : 1;
}
