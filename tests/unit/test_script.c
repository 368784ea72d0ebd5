/* Unit tests for the pure parts of scripting: SHA1 (engine/script.c), the
 * shebang parser, and the cmsgpack and struct modules (engine/lua/) driven
 * in a bare Lua state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "engine/script.h"

static void sha1_vectors(void **state) {
  (void)state;
  char out[41];
  cairn_sha1hex(out, "", 0);
  assert_string_equal(out, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  cairn_sha1hex(out, "abc", 3);
  assert_string_equal(out, "a9993e364706816aba3e25717850c26c9cd0d89d");
  cairn_sha1hex(out, "Pizza & Mandolino", 17);
  assert_string_equal(out, "74822d82031af7493c20eefa13bd07ec4fada82f");
  /* 56..64 bytes: the padding spills into a second block */
  const char *s = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  cairn_sha1hex(out, s, strlen(s));
  assert_string_equal(out, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  char *big = malloc(1000000);
  memset(big, 'a', 1000000);
  cairn_sha1hex(out, big, 1000000);
  assert_string_equal(out, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
  free(big);
}

static void shebang(void **state) {
  (void)state;
  uint32_t flags;
  size_t skip;
  char err[256];
  assert_int_equal(cairn_script_shebang("return 1", 8, &flags, &skip, err, sizeof(err)), 0);
  assert_int_equal(flags, CAIRN_SCRIPT_EVAL_COMPAT);
  assert_int_equal(skip, 0);
  const char *b = "#!lua flags=no-writes,allow-oom\nreturn 1";
  assert_int_equal(cairn_script_shebang(b, strlen(b), &flags, &skip, err, sizeof(err)), 0);
  assert_int_equal(flags, CAIRN_SCRIPT_NO_WRITES | CAIRN_SCRIPT_ALLOW_OOM);
  assert_int_equal(skip, strlen("#!lua flags=no-writes,allow-oom"));
  b = "#!lua\nreturn 1";
  assert_int_equal(cairn_script_shebang(b, strlen(b), &flags, &skip, err, sizeof(err)), 0);
  assert_int_equal(flags, 0);
  b = "#!lua flags=bogus\n";
  assert_int_equal(cairn_script_shebang(b, strlen(b), &flags, &skip, err, sizeof(err)), -1);
  assert_string_equal(err, "Unexpected flag in script shebang: bogus");
  b = "#!js\n";
  assert_int_equal(cairn_script_shebang(b, strlen(b), &flags, &skip, err, sizeof(err)), -1);
  assert_string_equal(err, "Unexpected engine in script shebang: #!js");
  b = "#!lua name=x\n";
  assert_int_equal(cairn_script_shebang(b, strlen(b), &flags, &skip, err, sizeof(err)), -1);
  assert_string_equal(err, "Unknown lua shebang option: name=x");
  assert_int_equal(cairn_script_shebang("#!lua", 5, &flags, &skip, err, sizeof(err)), -1);
  assert_string_equal(err, "Invalid script shebang");
}

static lua_State *bare_state(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  lua_pushcfunction(L, cairn_luaopen_cmsgpack);
  lua_call(L, 0, 0);
  lua_pushcfunction(L, cairn_luaopen_struct);
  lua_call(L, 0, 0);
  return L;
}

/* Runs code returning one string; its bytes into out. */
static size_t run_str(lua_State *L, const char *code, char *out, size_t cap) {
  if (luaL_dostring(L, code) != 0) fail_msg("lua: %s", lua_tostring(L, -1));
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  assert_non_null(s);
  assert_true(len <= cap);
  memcpy(out, s, len);
  lua_pop(L, 1);
  return len;
}

static void cmsgpack_encodings(void **state) {
  (void)state;
  lua_State *L = bare_state();
  char b[64];
  size_t n = run_str(L, "return cmsgpack.pack(1, -1, 200, -200, 70000, 'ab', true, nil)", b, sizeof(b));
  const unsigned char want[] = {0x01, 0xff, 0xcc, 0xc8, 0xd1, 0xff, 0x38, 0xce, 0x00, 0x01,
                                0x11, 0x70, 0xa2, 'a',  'b',  0xc3, 0xc0};
  assert_int_equal(n, sizeof(want)); /* an explicit trailing nil is packed too, like Redis */
  assert_memory_equal(b, want, n);
  n = run_str(L, "return cmsgpack.pack({1, 2}, {a = 1}, {}, 0.5, 1.1)", b, sizeof(b));
  const unsigned char want2[] = {0x92, 0x01, 0x02, 0x81, 0xa1, 'a',  0x01, 0x90, 0xca, 0x3f, 0x00, 0x00, 0x00,
                                 0xcb, 0x3f, 0xf1, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a};
  assert_int_equal(n, sizeof(want2));
  assert_memory_equal(b, want2, n);
  n = run_str(L,
              "local t = {cmsgpack.unpack(cmsgpack.pack({1, {x = 'y'}}, -5, 'z'))}"
              " return t[1][2].x .. t[2] .. t[3]",
              b, sizeof(b));
  assert_int_equal(n, 4);
  assert_memory_equal(b, "y-5z", 4);
  assert_int_not_equal(luaL_dostring(L, "return cmsgpack.unpack('\\220')"), 0); /* array16 cut short */
  assert_non_null(strstr(lua_tostring(L, -1), "Missing bytes in input."));
  lua_close(L);
}

static void struct_pack(void **state) {
  (void)state;
  lua_State *L = bare_state();
  char b[64];
  size_t n = run_str(L, "return struct.pack('>iH', 1, 2)", b, sizeof(b));
  assert_int_equal(n, 6);
  assert_memory_equal(b, "\x00\x00\x00\x01\x00\x02", 6);
  n = run_str(L, "local a, b, nxt = struct.unpack('<hs', struct.pack('<hs', -2, 'hi')) return a .. b .. nxt", b,
              sizeof(b));
  assert_memory_equal(b, "-2hi6", n);
  n = run_str(L, "return tostring(struct.size('>iHd'))", b, sizeof(b));
  assert_memory_equal(b, "14", n);
  lua_close(L);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(sha1_vectors),
      cmocka_unit_test(shebang),
      cmocka_unit_test(cmsgpack_encodings),
      cmocka_unit_test(struct_pack),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
