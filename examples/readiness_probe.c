/* Start a Triton server (triton-core) on a model repository, print liveness, readiness and
 * each model version's readiness, then stop. With --watch N it keeps printing once a second
 * for N seconds, so you can kill a stub process and watch readiness change.
 *
 *   readiness_probe <model-repository> <backend-directory> [--watch N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "triton/core/tritonserver.h"

static int
check(TRITONSERVER_Error* err, const char* what)
{
  if (err == NULL) {
    return 0;
  }
  fprintf(
      stderr, "%s: %s: %s\n", what, TRITONSERVER_ErrorCodeString(err),
      TRITONSERVER_ErrorMessage(err));
  TRITONSERVER_ErrorDelete(err);
  return 1;
}

/* Print one line per entry of the repository index ([{"name","version","state"...}]). */
static void
print_models(TRITONSERVER_Server* server)
{
  TRITONSERVER_Message* index = NULL;
  if (check(TRITONSERVER_ServerModelIndex(server, 0, &index), "model index")) {
    return;
  }
  const char* json = NULL;
  size_t size = 0;
  TRITONSERVER_MessageSerializeToJson(index, &json, &size);
  /* A tiny scan for "name":"..." and "version":"..." pairs; enough for an example. */
  const char* p = json;
  while ((p = strstr(p, "\"name\":\"")) != NULL) {
    char name[256] = {0}, version[32] = "1";
    p += 8;
    size_t n = strcspn(p, "\"");
    snprintf(name, sizeof(name), "%.*s", (int)n, p);
    const char* v = strstr(p, "\"version\":\"");
    const char* next = strstr(p, "\"name\":\"");
    if (v != NULL && (next == NULL || v < next)) {
      v += 11;
      snprintf(version, sizeof(version), "%.*s", (int)strcspn(v, "\""), v);
    }
    bool ready = false;
    TRITONSERVER_Error* err =
        TRITONSERVER_ServerModelIsReady(server, name, atoll(version), &ready);
    if (err == NULL) {
      printf("  model %-12s version %-3s ready=%s\n", name, version, ready ? "yes" : "no");
    } else {
      check(err, "model ready");
    }
  }
  TRITONSERVER_MessageDelete(index);
}

int
main(int argc, char** argv)
{
  if (argc < 3) {
    fprintf(stderr, "usage: %s <model-repository> <backend-directory> [--watch N]\n", argv[0]);
    return 2;
  }
  int watch = 0;
  if (argc >= 5 && strcmp(argv[3], "--watch") == 0) {
    watch = atoi(argv[4]);
  }
  TRITONSERVER_ServerOptions* options = NULL;
  if (check(TRITONSERVER_ServerOptionsNew(&options), "options") ||
      check(TRITONSERVER_ServerOptionsSetModelRepositoryPath(options, argv[1]), "repository") ||
      check(TRITONSERVER_ServerOptionsSetBackendDirectory(options, argv[2]), "backends") ||
      check(TRITONSERVER_ServerOptionsSetModelControlMode(options, TRITONSERVER_MODEL_CONTROL_NONE),
            "control mode") ||
      check(TRITONSERVER_ServerOptionsSetStrictReadiness(options, true), "strict readiness") ||
      check(TRITONSERVER_ServerOptionsSetExitOnError(options, false), "exit on error") ||
      check(TRITONSERVER_ServerOptionsSetExitTimeout(options, 5), "exit timeout")) {
    return 1;
  }
  TRITONSERVER_Server* server = NULL;
  int failed = check(TRITONSERVER_ServerNew(&server, options), "server");
  TRITONSERVER_ServerOptionsDelete(options);
  if (failed) {
    return 1;
  }
  for (int second = 0;; ++second) {
    bool live = false, ready = false;
    TRITONSERVER_Error* err = TRITONSERVER_ServerIsLive(server, &live);
    check(err, "live");
    err = TRITONSERVER_ServerIsReady(server, &ready);
    check(err, "ready");
    printf("server live=%s ready=%s\n", live ? "yes" : "no", ready ? "yes" : "no");
    print_models(server);
    fflush(stdout);
    if (second >= watch) {
      break;
    }
    struct timespec one = {1, 0};
    nanosleep(&one, NULL);
  }
  return check(TRITONSERVER_ServerDelete(server), "delete");
}
