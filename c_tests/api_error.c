/* api_error: TRITONSERVER_Error, TRITONSERVER_Message, the enum-to-string helpers and the
 * API versions. No server is started. */
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "triton/core/tritonbackend.h"

#define CHECK_STR(got, want)                                                  \
  do {                                                                        \
    const char* g__ = (got);                                                  \
    CHECK(g__ != NULL && strcmp(g__, (want)) == 0, "%s = \"%s\", expected \"%s\"", \
          #got, g__ ? g__ : "(null)", (want));                                \
  } while (0)

static void
test_errors(void)
{
  static const struct {
    TRITONSERVER_Error_Code code;
    const char* str;
  } codes[] = {
      {TRITONSERVER_ERROR_UNKNOWN, "Unknown"},
      {TRITONSERVER_ERROR_INTERNAL, "Internal"},
      {TRITONSERVER_ERROR_NOT_FOUND, "Not found"},
      {TRITONSERVER_ERROR_INVALID_ARG, "Invalid argument"},
      {TRITONSERVER_ERROR_UNAVAILABLE, "Unavailable"},
      {TRITONSERVER_ERROR_UNSUPPORTED, "Unsupported"},
      {TRITONSERVER_ERROR_ALREADY_EXISTS, "Already exists"},
      /* Real 2.51 returns "<invalid code>" here (its Status::CodeString has no CANCELLED
       * case); we deliberately return the name. */
      {TRITONSERVER_ERROR_CANCELLED, "Cancelled"},
  };
  for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); ++i) {
    char msg[64];
    snprintf(msg, sizeof(msg), "message %zu", i);
    TRITONSERVER_Error* err = TRITONSERVER_ErrorNew(codes[i].code, msg);
    if (!CHECK(err != NULL, "ErrorNew(%d) returned NULL", (int)codes[i].code)) {
      continue;
    }
    CHECK(TRITONSERVER_ErrorCode(err) == codes[i].code, "ErrorCode = %d, expected %d",
          (int)TRITONSERVER_ErrorCode(err), (int)codes[i].code);
    CHECK_STR(TRITONSERVER_ErrorCodeString(err), codes[i].str);
    CHECK_STR(TRITONSERVER_ErrorMessage(err), msg);
    /* The message is a copy, valid until ErrorDelete, stable across calls. */
    const char* m1 = TRITONSERVER_ErrorMessage(err);
    const char* m2 = TRITONSERVER_ErrorMessage(err);
    CHECK(m1 == m2, "ErrorMessage returns a different pointer on each call");
    TRITONSERVER_ErrorDelete(err);
  }

  /* Empty message. */
  TRITONSERVER_Error* err = TRITONSERVER_ErrorNew(TRITONSERVER_ERROR_INTERNAL, "");
  if (CHECK(err != NULL, "ErrorNew with empty message returned NULL")) {
    CHECK_STR(TRITONSERVER_ErrorMessage(err), "");
    TRITONSERVER_ErrorDelete(err);
  }

  /* Out-of-range code: upstream keeps the raw code and its CodeString says "Unknown". */
  err = TRITONSERVER_ErrorNew((TRITONSERVER_Error_Code)42, "out of range");
  if (CHECK(err != NULL, "ErrorNew(42) returned NULL")) {
    CHECK_STR(TRITONSERVER_ErrorCodeString(err), "Unknown");
    CHECK_STR(TRITONSERVER_ErrorMessage(err), "out of range");
    TRITONSERVER_ErrorDelete(err);
  }

  /* Deleting NULL is a no-op. */
  TRITONSERVER_ErrorDelete(NULL);
}

static void
test_messages(void)
{
  static const char json[] = "{\"a\":[1,2],\"b\":\"x\",\"c\":{\"d\":true}}";
  TRITONSERVER_Message* msg = NULL;
  if (!CHECK_OK(TRITONSERVER_MessageNewFromSerializedJson(&msg, json, strlen(json)))) {
    return;
  }
  CHECK(msg != NULL, "MessageNewFromSerializedJson returned NULL message");
  const char* base = NULL;
  size_t size = 0;
  if (CHECK_OK(TRITONSERVER_MessageSerializeToJson(msg, &base, &size))) {
    CHECK(size == strlen(json) && base != NULL && memcmp(base, json, size) == 0,
          "SerializeToJson = '%.*s' (%zu bytes), expected '%s'", (int)size,
          base ? base : "", size, json);
    /* The buffer stays valid and unchanged for a second call. */
    const char* base2 = NULL;
    size_t size2 = 0;
    if (CHECK_OK(TRITONSERVER_MessageSerializeToJson(msg, &base2, &size2))) {
      CHECK(size2 == size && base2 != NULL && memcmp(base2, json, size2) == 0,
            "second SerializeToJson differs");
    }
  }
  CHECK_OK(TRITONSERVER_MessageDelete(msg));

  /* byte_size is honoured: the input need not be NUL-terminated. */
  static const char padded[] = "{\"k\":1}garbage";
  msg = NULL;
  if (CHECK_OK(TRITONSERVER_MessageNewFromSerializedJson(&msg, padded, 7))) {
    if (CHECK_OK(TRITONSERVER_MessageSerializeToJson(msg, &base, &size))) {
      CHECK(size == 7 && memcmp(base, "{\"k\":1}", 7) == 0,
            "SerializeToJson of a length-limited input = '%.*s'", (int)size, base);
    }
    CHECK_OK(TRITONSERVER_MessageDelete(msg));
  }

  /* Invalid JSON: upstream 2.51 accepts it without parsing; we only require no crash and
   * that, if accepted, the message can be deleted. */
  msg = NULL;
  TRITONSERVER_Error* err = TRITONSERVER_MessageNewFromSerializedJson(&msg, "{bad", 4);
  if (err != NULL) {
    tc_note("invalid JSON rejected: %s: %s", TRITONSERVER_ErrorCodeString(err),
            TRITONSERVER_ErrorMessage(err));
    TRITONSERVER_ErrorDelete(err);
  } else {
    tc_note("invalid JSON accepted (as upstream 2.51 does)");
    CHECK_OK(TRITONSERVER_MessageDelete(msg));
  }
}

static void
test_data_types(void)
{
  static const struct {
    TRITONSERVER_DataType type;
    const char* name;
    uint32_t size;
  } types[] = {
      {TRITONSERVER_TYPE_BOOL, "BOOL", 1},     {TRITONSERVER_TYPE_UINT8, "UINT8", 1},
      {TRITONSERVER_TYPE_UINT16, "UINT16", 2}, {TRITONSERVER_TYPE_UINT32, "UINT32", 4},
      {TRITONSERVER_TYPE_UINT64, "UINT64", 8}, {TRITONSERVER_TYPE_INT8, "INT8", 1},
      {TRITONSERVER_TYPE_INT16, "INT16", 2},   {TRITONSERVER_TYPE_INT32, "INT32", 4},
      {TRITONSERVER_TYPE_INT64, "INT64", 8},   {TRITONSERVER_TYPE_FP16, "FP16", 2},
      {TRITONSERVER_TYPE_FP32, "FP32", 4},     {TRITONSERVER_TYPE_FP64, "FP64", 8},
      {TRITONSERVER_TYPE_BYTES, "BYTES", 0},   {TRITONSERVER_TYPE_BF16, "BF16", 2},
  };
  for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); ++i) {
    CHECK_STR(TRITONSERVER_DataTypeString(types[i].type), types[i].name);
    CHECK(TRITONSERVER_StringToDataType(types[i].name) == types[i].type,
          "StringToDataType(\"%s\") = %d, expected %d", types[i].name,
          (int)TRITONSERVER_StringToDataType(types[i].name), (int)types[i].type);
    CHECK(TRITONSERVER_DataTypeByteSize(types[i].type) == types[i].size,
          "DataTypeByteSize(%s) = %u, expected %u", types[i].name,
          TRITONSERVER_DataTypeByteSize(types[i].type), types[i].size);
  }
  CHECK_STR(TRITONSERVER_DataTypeString(TRITONSERVER_TYPE_INVALID), "<invalid>");
  CHECK_STR(TRITONSERVER_DataTypeString((TRITONSERVER_DataType)99), "<invalid>");
  CHECK(TRITONSERVER_DataTypeByteSize(TRITONSERVER_TYPE_INVALID) == 0,
        "DataTypeByteSize(INVALID) != 0");
  CHECK(TRITONSERVER_DataTypeByteSize((TRITONSERVER_DataType)99) == 0,
        "DataTypeByteSize(99) != 0");
  /* Only the bare names are accepted (no "TYPE_" prefix, case-sensitive). */
  CHECK(TRITONSERVER_StringToDataType("TYPE_FP32") == TRITONSERVER_TYPE_INVALID,
        "StringToDataType(\"TYPE_FP32\") is not INVALID");
  CHECK(TRITONSERVER_StringToDataType("fp32") == TRITONSERVER_TYPE_INVALID,
        "StringToDataType(\"fp32\") is not INVALID");
  CHECK(TRITONSERVER_StringToDataType("") == TRITONSERVER_TYPE_INVALID,
        "StringToDataType(\"\") is not INVALID");
}

static void
test_enum_strings(void)
{
  CHECK_STR(TRITONSERVER_MemoryTypeString(TRITONSERVER_MEMORY_CPU), "CPU");
  CHECK_STR(TRITONSERVER_MemoryTypeString(TRITONSERVER_MEMORY_CPU_PINNED), "CPU_PINNED");
  CHECK_STR(TRITONSERVER_MemoryTypeString(TRITONSERVER_MEMORY_GPU), "GPU");
  CHECK_STR(TRITONSERVER_MemoryTypeString((TRITONSERVER_MemoryType)7), "<invalid>");

  CHECK_STR(TRITONSERVER_ParameterTypeString(TRITONSERVER_PARAMETER_STRING), "STRING");
  CHECK_STR(TRITONSERVER_ParameterTypeString(TRITONSERVER_PARAMETER_INT), "INT");
  CHECK_STR(TRITONSERVER_ParameterTypeString(TRITONSERVER_PARAMETER_BOOL), "BOOL");
  CHECK_STR(TRITONSERVER_ParameterTypeString(TRITONSERVER_PARAMETER_DOUBLE), "DOUBLE");
  CHECK_STR(TRITONSERVER_ParameterTypeString(TRITONSERVER_PARAMETER_BYTES), "BYTES");
  CHECK_STR(TRITONSERVER_ParameterTypeString((TRITONSERVER_ParameterType)9), "<invalid>");

  CHECK_STR(
      TRITONSERVER_InstanceGroupKindString(TRITONSERVER_INSTANCEGROUPKIND_AUTO), "AUTO");
  CHECK_STR(
      TRITONSERVER_InstanceGroupKindString(TRITONSERVER_INSTANCEGROUPKIND_CPU), "CPU");
  CHECK_STR(
      TRITONSERVER_InstanceGroupKindString(TRITONSERVER_INSTANCEGROUPKIND_GPU), "GPU");
  CHECK_STR(
      TRITONSERVER_InstanceGroupKindString(TRITONSERVER_INSTANCEGROUPKIND_MODEL),
      "MODEL");
  CHECK_STR(
      TRITONSERVER_InstanceGroupKindString((TRITONSERVER_InstanceGroupKind)9),
      "<invalid>");
}

static void
test_versions(void)
{
  CHECK(TRITONSERVER_API_VERSION_MAJOR == 1 && TRITONSERVER_API_VERSION_MINOR == 34,
        "header TRITONSERVER_API_VERSION = %d.%d, expected 1.34",
        TRITONSERVER_API_VERSION_MAJOR, TRITONSERVER_API_VERSION_MINOR);
  CHECK(TRITONBACKEND_API_VERSION_MAJOR == 1 && TRITONBACKEND_API_VERSION_MINOR == 19,
        "header TRITONBACKEND_API_VERSION = %d.%d, expected 1.19",
        TRITONBACKEND_API_VERSION_MAJOR, TRITONBACKEND_API_VERSION_MINOR);

  uint32_t major = 0, minor = 0;
  if (CHECK_OK(TRITONSERVER_ApiVersion(&major, &minor))) {
    CHECK(major == TRITONSERVER_API_VERSION_MAJOR &&
              minor == TRITONSERVER_API_VERSION_MINOR,
          "TRITONSERVER_ApiVersion = %u.%u, header says %d.%d", major, minor,
          TRITONSERVER_API_VERSION_MAJOR, TRITONSERVER_API_VERSION_MINOR);
  }
  major = minor = 0;
  if (CHECK_OK(TRITONBACKEND_ApiVersion(&major, &minor))) {
    CHECK(major == TRITONBACKEND_API_VERSION_MAJOR &&
              minor == TRITONBACKEND_API_VERSION_MINOR,
          "TRITONBACKEND_ApiVersion = %u.%u, header says %d.%d", major, minor,
          TRITONBACKEND_API_VERSION_MAJOR, TRITONBACKEND_API_VERSION_MINOR);
  }
}

int
main(void)
{
  test_errors();
  test_messages();
  test_data_types();
  test_enum_strings();
  test_versions();
  return tc_finish("api_error");
}
