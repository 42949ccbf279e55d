/*
 * The N-API floor for bench.mjs: the cheapest a Node-API addon can make try+release on an
 * open descriptor. Two plain functions (no class, no wrapped object, no allocation):
 *   tryLock(fd) -> boolean   flock(fd, LOCK_EX|LOCK_NB)
 *   unlock(fd)               flock(fd, LOCK_UN)
 * Built at bench time: cc -shared -fPIC -I<node headers> -o .build/napi_flock.node napi_flock.c
 * Not a lock library (no errors worth the name, no ownership): a yardstick only.
 */
#include <errno.h>
#include <node_api.h>
#include <sys/file.h>

static int fd_arg(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) return -1;
  return fd;
}

static napi_value try_lock(napi_env env, napi_callback_info info) {
  int fd = fd_arg(env, info);
  napi_value out;
  if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
    napi_get_boolean(env, 1, &out);
    return out;
  }
  if (errno != EWOULDBLOCK) {
    napi_throw_error(env, "EFLOCK", "flock failed");
    return NULL;
  }
  napi_get_boolean(env, 0, &out);
  return out;
}

static napi_value unlock(napi_env env, napi_callback_info info) {
  int fd = fd_arg(env, info);
  if (flock(fd, LOCK_UN) != 0) napi_throw_error(env, "EFLOCK", "flock(LOCK_UN) failed");
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "tryLock", NAPI_AUTO_LENGTH, try_lock, NULL, &f);
  napi_set_named_property(env, exports, "tryLock", f);
  napi_create_function(env, "unlock", NAPI_AUTO_LENGTH, unlock, NULL, &f);
  napi_set_named_property(env, exports, "unlock", f);
  return exports;
}
