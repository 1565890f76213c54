// Compiled by scripts/check-abi.sh: upstream's pristine headers first, then a declarations-only
// header generated from our sources. In C++ two extern "C" declarations of one function with
// different signatures do not compile, so every exported signature is checked against upstream.
#include "triton/core/tritonbackend.h"
#include "triton/core/tritoncache.h"
#include "triton/core/tritonrepoagent.h"
#include "triton/core/tritonserver.h"

#include "declarations_only.h"

int main() { return 0; }
