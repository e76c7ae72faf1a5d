/*
 * test_codec.c - element text: type names, float repr, value format and
 * parse, UTF-8 validation.  (The float repr is also checked against
 * python3 on 200,000+ doubles by tests/interop/test_float_repr.py.)
 */
#include "testutil.h"
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>

/* --- helpers --------------------------------------------------------------- */

static void assert_repr(double x, const char *want)
{
    char buf[SHMSEG_FLOAT_REPR_MAX + 1];
    int n = shmseg_float_repr(x, buf, sizeof(buf));
    assert_string_equal(buf, want);
    assert_int_equal(n, strlen(want));
}

/* Format @v and compare to @want (@want_len bytes). */
static void assert_format(const struct shmseg_value *v, const char *want,
                          size_t want_len)
{
    char buf[256];
    memset(buf, 'X', sizeof(buf));
    ssize_t n = shmseg_value_format(v, buf, sizeof(buf));
    assert_int_equal(n, want_len);
    assert_memory_equal(buf, want, want_len);
    assert_int_equal(buf[want_len], 'X'); /* not NUL-terminated */
}

static int parse(enum shmseg_type t, const char *text, struct shmseg_value *v)
{
    return shmseg_value_parse(t, text, strlen(text), v);
}

static int64_t parse_int_ok(const char *text)
{
    struct shmseg_value v;
    assert_int_equal(parse(SHMSEG_INT, text, &v), 0);
    assert_int_equal(v.type, SHMSEG_INT);
    return v.u.i;
}

static double parse_float_ok(const char *text)
{
    struct shmseg_value v;
    assert_int_equal(parse(SHMSEG_FLOAT, text, &v), 0);
    assert_int_equal(v.type, SHMSEG_FLOAT);
    return v.u.f;
}

static bool same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof(a)) == 0;
}

/* --- type names ------------------------------------------------------------ */

static void test_type_names(void **state)
{
    (void)state;
    static const struct {
        enum shmseg_type t;
        const char *name;
    } all[] = {
        {SHMSEG_INT, "int"},     {SHMSEG_FLOAT, "float"},
        {SHMSEG_BOOL, "bool"},   {SHMSEG_STR, "str"},
        {SHMSEG_BYTES, "bytes"}, {SHMSEG_NONE, "None"},
    };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        enum shmseg_type t = SHMSEG_NONE;
        assert_string_equal(shmseg_type_name(all[i].t), all[i].name);
        assert_int_equal(shmseg_type_parse(all[i].name, &t), 0);
        assert_int_equal(t, all[i].t);
    }
    assert_null(shmseg_type_name((enum shmseg_type)6));
    assert_null(shmseg_type_name((enum shmseg_type)-1));

    enum shmseg_type t = SHMSEG_BOOL;
    assert_int_equal(shmseg_type_parse("none", &t), -EINVAL);
    assert_int_equal(shmseg_type_parse("Int", &t), -EINVAL);
    assert_int_equal(shmseg_type_parse("", &t), -EINVAL);
    assert_int_equal(shmseg_type_parse("int ", &t), -EINVAL);
    assert_int_equal(t, SHMSEG_BOOL); /* untouched on error */
    assert_int_equal(shmseg_type_parse(NULL, &t), -EINVAL);
    assert_int_equal(shmseg_type_parse("int", NULL), -EINVAL);
}

/* --- float repr ------------------------------------------------------------- */

static void test_float_repr_values(void **state)
{
    (void)state;
    assert_repr(0.0, "0.0");
    assert_repr(-0.0, "-0.0");
    assert_repr(INFINITY, "inf");
    assert_repr(-INFINITY, "-inf");
    assert_repr(NAN, "nan");
    assert_repr(-NAN, "nan");
    assert_repr(1.0, "1.0");
    assert_repr(-2.5, "-2.5");
    assert_repr(0.1, "0.1");
    assert_repr(0.1 + 0.2, "0.30000000000000004");
    assert_repr(1.0 / 3, "0.3333333333333333");
    assert_repr(100.0, "100.0");
    assert_repr(123456789.0, "123456789.0");
    /* Notation boundaries: fixed for 1e-4 <= |x| < 1e16. */
    assert_repr(1e16, "1e+16");
    assert_repr(9999999999999998.0, "9999999999999998.0");
    assert_repr(1.5e16, "1.5e+16");
    assert_repr(1e15, "1000000000000000.0");
    assert_repr(1e-4, "0.0001");
    assert_repr(1.5e-4, "0.00015");
    assert_repr(nextafter(1e-4, 0), "9.999999999999999e-05");
    assert_repr(1e-5, "1e-05");
    assert_repr(-1.5e-5, "-1.5e-05");
    assert_repr(1e100, "1e+100");
    assert_repr(1e22, "1e+22");
    assert_repr(1e23, "1e+23");
    /* Extremes and subnormals. */
    assert_repr(5e-324, "5e-324");
    assert_repr(-5e-324, "-5e-324");
    assert_repr(2.2250738585072014e-308, "2.2250738585072014e-308");
    assert_repr(-2.2250738585072014e-308, "-2.2250738585072014e-308");
    assert_repr(2.225073858507201e-308, "2.225073858507201e-308");
    assert_repr(1.7976931348623157e308, "1.7976931348623157e+308");
    /* Powers of two, whose rounding interval is narrower below. */
    assert_repr(9007199254740992.0, "9007199254740992.0");
    assert_repr(ldexp(1, 60), "1.152921504606847e+18");
    /* The closest 16 digits fall below the narrow interval; the next
     * 16-digit decimal above x still reads back. */
    assert_repr(ldexp(1, 89), "6.189700196426902e+26");
    assert_repr(-ldexp(1, 89), "-6.189700196426902e+26");
    assert_repr(ldexp(1, -1074), "5e-324");
    assert_repr(ldexp(1, 1023), "8.98846567431158e+307");
    assert_repr(ldexp(1, -1022), "2.2250738585072014e-308");
}

static void test_float_repr_buffer(void **state)
{
    (void)state;
    char buf[8];

    /* snprintf semantics: full length returned, truncated and terminated. */
    memset(buf, 'X', sizeof(buf));
    assert_int_equal(shmseg_float_repr(0.30000000000000004, buf, 5), 19);
    assert_string_equal(buf, "0.30");
    assert_int_equal(buf[5], 'X');

    memset(buf, 'X', sizeof(buf));
    assert_int_equal(shmseg_float_repr(-1.5, buf, 1), 4);
    assert_int_equal(buf[0], '\0');
    assert_int_equal(buf[1], 'X');

    assert_int_equal(shmseg_float_repr(1.5, NULL, 0), 3);
    assert_int_equal(shmseg_float_repr(-2.2250738585072014e-308, NULL, 0),
                     SHMSEG_FLOAT_REPR_MAX);

    assert_int_equal(shmseg_float_repr(1.5, buf, 4), 3);
    assert_string_equal(buf, "1.5");
}

/* --- value format ----------------------------------------------------------- */

static void test_format_values(void **state)
{
    (void)state;
    struct shmseg_value v;

    v = (struct shmseg_value){.type = SHMSEG_INT, .u.i = 42};
    assert_format(&v, "42\n", 3);
    v.u.i = INT64_MIN;
    assert_format(&v, "-9223372036854775808\n", 21);
    v.u.i = INT64_MAX;
    assert_format(&v, "9223372036854775807\n", 20);

    v = (struct shmseg_value){.type = SHMSEG_FLOAT, .u.f = 2.5};
    assert_format(&v, "2.5\n", 4);
    v.u.f = -INFINITY;
    assert_format(&v, "-inf\n", 5);

    v = (struct shmseg_value){.type = SHMSEG_BOOL, .u.b = true};
    assert_format(&v, "True\n", 5);
    v.u.b = false;
    assert_format(&v, "False\n", 6);

    v = (struct shmseg_value){.type = SHMSEG_NONE};
    assert_format(&v, "None\n", 5);

    v = (struct shmseg_value){.type = SHMSEG_STR, .u.s = {"h\xc3\xa9llo", 6}};
    assert_format(&v, "h\xc3\xa9llo\n", 7);
    v.u.s.ptr = NULL;
    v.u.s.len = 0;
    assert_format(&v, "\n", 1);

    /* bytes: raw, no newline, NULs kept. */
    v = (struct shmseg_value){.type = SHMSEG_BYTES, .u.s = {"a\0b\n", 4}};
    assert_format(&v, "a\0b\n", 4);
    v.u.s.ptr = NULL;
    v.u.s.len = 0;
    assert_format(&v, "", 0);
}

static void test_format_buffer(void **state)
{
    (void)state;
    char buf[8];
    struct shmseg_value v = {.type = SHMSEG_STR, .u.s = {"abcdef", 6}};

    /* Length only. */
    assert_int_equal(shmseg_value_format(&v, NULL, 0), 7);

    /* Truncated: only cap bytes written. */
    memset(buf, 'X', sizeof(buf));
    assert_int_equal(shmseg_value_format(&v, buf, 3), 7);
    assert_memory_equal(buf, "abcX", 4);

    /* Room for the text but not the newline. */
    memset(buf, 'X', sizeof(buf));
    assert_int_equal(shmseg_value_format(&v, buf, 6), 7);
    assert_memory_equal(buf, "abcdefX", 7);

    v = (struct shmseg_value){.type = SHMSEG_INT, .u.i = -12345};
    memset(buf, 'X', sizeof(buf));
    assert_int_equal(shmseg_value_format(&v, buf, 2), 7);
    assert_memory_equal(buf, "-1X", 3);

    v = (struct shmseg_value){.type = SHMSEG_BYTES, .u.s = {"xyz", 3}};
    memset(buf, 'X', sizeof(buf));
    assert_int_equal(shmseg_value_format(&v, buf, 2), 3);
    assert_memory_equal(buf, "xyX", 3);
}

static void test_format_errors(void **state)
{
    (void)state;
    char buf[16];
    struct shmseg_value v = {.type = (enum shmseg_type)17};

    assert_int_equal(shmseg_value_format(&v, buf, sizeof(buf)), -EINVAL);
    assert_int_equal(shmseg_value_format(NULL, buf, sizeof(buf)), -EINVAL);
    v = (struct shmseg_value){.type = SHMSEG_INT, .u.i = 1};
    assert_int_equal(shmseg_value_format(&v, NULL, 4), -EINVAL);
    v = (struct shmseg_value){.type = SHMSEG_STR, .u.s = {NULL, 3}};
    assert_int_equal(shmseg_value_format(&v, buf, sizeof(buf)), -EINVAL);
    v.type = SHMSEG_BYTES;
    assert_int_equal(shmseg_value_format(&v, buf, sizeof(buf)), -EINVAL);
}

/* --- value parse ------------------------------------------------------------ */

static void test_parse_int(void **state)
{
    (void)state;
    struct shmseg_value v = {.type = SHMSEG_NONE};

    assert_int_equal(parse_int_ok("0"), 0);
    assert_int_equal(parse_int_ok("42\n"), 42);
    assert_int_equal(parse_int_ok("-7"), -7);
    assert_int_equal(parse_int_ok("+7"), 7);
    assert_int_equal(parse_int_ok("007"), 7);
    assert_int_equal(parse_int_ok("9223372036854775807"), INT64_MAX);
    assert_int_equal(parse_int_ok("-9223372036854775808"), INT64_MIN);
    assert_int_equal(parse_int_ok("-0000000000000000000009223372036854775808"),
                     INT64_MIN);

    assert_int_equal(parse(SHMSEG_INT, "9223372036854775808", &v), -ERANGE);
    assert_int_equal(parse(SHMSEG_INT, "-9223372036854775809", &v), -ERANGE);
    assert_int_equal(parse(SHMSEG_INT, "99999999999999999999999", &v),
                     -ERANGE);
    /* Not a number at all beats out of range. */
    assert_int_equal(parse(SHMSEG_INT, "99999999999999999999999x", &v),
                     -EINVAL);

    static const char *const bad[] = {
        "", "\n", "+", "-", "12abc", "1.0", "1e3", " 1", "1 ", "1_000",
        "0x10", "1\n\n", "\n1", "--1", "+-1", "\xd9\xa1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse(SHMSEG_INT, bad[i], &v), -EINVAL);
    /* An embedded NUL is not a digit (length counts it). */
    assert_int_equal(shmseg_value_parse(SHMSEG_INT, "1\0", 2, &v), -EINVAL);
    assert_int_equal(v.type, SHMSEG_NONE); /* untouched on error */
}

static void test_parse_float(void **state)
{
    (void)state;
    struct shmseg_value v = {.type = SHMSEG_NONE};

    assert_true(parse_float_ok("1.5") == 1.5);
    assert_true(parse_float_ok("1.5\n") == 1.5);
    assert_true(parse_float_ok("-2e-3") == -2e-3);
    assert_true(parse_float_ok("+.5") == 0.5);
    assert_true(parse_float_ok("5.") == 5.0);
    assert_true(parse_float_ok("1E5") == 1e5);
    assert_true(parse_float_ok("1e+05") == 1e5);
    assert_true(parse_float_ok("42") == 42.0);
    assert_true(parse_float_ok("0.30000000000000004") ==
                0.30000000000000004);
    assert_true(same_bits(parse_float_ok("-0.0"), -0.0));
    assert_true(same_bits(parse_float_ok("0"), 0.0));
    assert_true(parse_float_ok("inf") == INFINITY);
    assert_true(parse_float_ok("-Infinity") == -INFINITY);
    assert_true(parse_float_ok("+INF") == INFINITY);
    assert_true(isnan(parse_float_ok("nan")));
    assert_true(isnan(parse_float_ok("NaN")));
    assert_true(isnan(parse_float_ok("-nan")));
    assert_true(parse_float_ok("5e-324") == 5e-324);
    assert_true(parse_float_ok("1.7976931348623157e308") == 1.7976931348623157e308);
    /* Underflow reads as zero or a subnormal, as Python's float() does. */
    assert_true(same_bits(parse_float_ok("1e-400"), 0.0));
    assert_true(same_bits(parse_float_ok("-1e-99999999999999999999"), -0.0));
    assert_true(parse_float_ok("2e-324") == 0.0);
    assert_true(parse_float_ok("3e-324") == 5e-324);
    /* Huge exponents balanced by many digits still come out right. */
    assert_true(parse_float_ok("0.000000000000000000000000000001e30") == 1.0);
    assert_true(parse_float_ok("1000000000000000000000000000000e-30") == 1.0);

    /* Overflow is an error, not inf. */
    assert_int_equal(parse(SHMSEG_FLOAT, "1e309", &v), -ERANGE);
    assert_int_equal(parse(SHMSEG_FLOAT, "-1e99999999999999999999", &v),
                     -ERANGE);
    assert_int_equal(parse(SHMSEG_FLOAT, "1.8e308", &v), -ERANGE);

    static const char *const bad[] = {
        "", ".", "e5", "1e", "1e+", "1.5x", " 1.5", "1.5 ", "1_0.5", "0x1p3",
        "in", "infinit", "nanx", "--1", "1..5", "1.5.", ".e1", "1e5.0",
        "+", "-", "+nan(1)", "1,5", "1.5\n\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse(SHMSEG_FLOAT, bad[i], &v), -EINVAL);
    assert_int_equal(v.type, SHMSEG_NONE);
}

static void test_parse_float_long(void **state)
{
    (void)state;
    /* Longer than the on-stack scratch buffer: the heap path. */
    size_t n = 5000;
    char *text = malloc(n + 8);
    assert_alloc(text);
    memcpy(text, "0.", 2);
    memset(text + 2, '0', n - 3);
    text[n - 1] = '1';
    memcpy(text + n, "e4998", 6); /* 1e-4998 * 1e4998 */
    assert_true(parse_float_ok(text) == 1.0);

    /* 0.1 written with many more digits than needed rounds correctly. */
    memcpy(text, "0.1000000000000000055511151231257827", 36);
    memset(text + 36, '0', n - 36);
    text[n] = '\0';
    assert_true(parse_float_ok(text) == 0.1);
    free(text);
}

/* Exponents and digit counts far past any double's range must still add
 * up exactly: 0.(10^8+1 zeros)1e100000002 is 1.0, not a value whose scale
 * was clamped on the way. */
static void test_parse_float_huge_scales(void **state)
{
    (void)state;
    const size_t zeros = 100000001;
    char *text = malloc(zeros + 64);
    assert_alloc(text);

    memcpy(text, "0.", 2);
    memset(text + 2, '0', zeros);
    snprintf(text + 2 + zeros, 62, "1e%zu", zeros + 1);
    assert_true(parse_float_ok(text) == 1.0);

    /* 1 followed by 10^8+1 zeros, scaled down by 10^9: 1e-899999999. */
    text[0] = '1';
    memset(text + 1, '0', zeros);
    snprintf(text + 1 + zeros, 62, "e-1000000000");
    assert_true(same_bits(parse_float_ok(text), 0.0));
    /* ... and scaled up instead: overflow. */
    struct shmseg_value v;
    snprintf(text + 1 + zeros, 62, "e-100000001");
    assert_true(parse_float_ok(text) == 1.0);
    snprintf(text + 1 + zeros, 62, "e-99999000");
    assert_int_equal(parse(SHMSEG_FLOAT, text, &v), -ERANGE);
    free(text);
}

static void test_parse_float_round_trip(void **state)
{
    (void)state;
    /* A deterministic sweep; the random one runs against python3. */
    uint64_t bits = 0x9E3779B97F4A7C15u;
    for (int i = 0; i < 20000; i++) {
        bits = bits * 6364136223846793005u + 1442695040888963407u;
        double x;
        memcpy(&x, &bits, sizeof(x));
        char buf[SHMSEG_FLOAT_REPR_MAX + 1];
        int n = shmseg_float_repr(x, buf, sizeof(buf));
        assert_in_range(n, 3, SHMSEG_FLOAT_REPR_MAX);
        struct shmseg_value v;
        assert_int_equal(shmseg_value_parse(SHMSEG_FLOAT, buf, (size_t)n, &v),
                         0);
        if (isnan(x))
            assert_true(isnan(v.u.f));
        else
            assert_true(same_bits(x, v.u.f));
    }
}

static void test_parse_other_types(void **state)
{
    (void)state;
    struct shmseg_value v;

    assert_int_equal(parse(SHMSEG_BOOL, "True\n", &v), 0);
    assert_int_equal(v.type, SHMSEG_BOOL);
    assert_true(v.u.b);
    assert_int_equal(parse(SHMSEG_BOOL, "False", &v), 0);
    assert_false(v.u.b);
    static const char *const bad_bool[] = {
        "true", "1", "0", "TRUE", "Tru", "True ", "", "Falsey", "True\n\n",
    };
    for (size_t i = 0; i < sizeof(bad_bool) / sizeof(bad_bool[0]); i++)
        assert_int_equal(parse(SHMSEG_BOOL, bad_bool[i], &v), -EINVAL);

    assert_int_equal(parse(SHMSEG_NONE, "None\n", &v), 0);
    assert_int_equal(v.type, SHMSEG_NONE);
    assert_int_equal(parse(SHMSEG_NONE, "None", &v), 0);
    assert_int_equal(parse(SHMSEG_NONE, "none", &v), -EINVAL);
    assert_int_equal(parse(SHMSEG_NONE, "", &v), -EINVAL);
    assert_int_equal(parse(SHMSEG_NONE, "null", &v), -EINVAL);

    /* str: one trailing newline dropped, the rest kept; points into text. */
    const char *s = "two\nlines\n\n";
    assert_int_equal(parse(SHMSEG_STR, s, &v), 0);
    assert_int_equal(v.type, SHMSEG_STR);
    assert_ptr_equal(v.u.s.ptr, s);
    assert_int_equal(v.u.s.len, strlen(s) - 1);
    assert_int_equal(parse(SHMSEG_STR, "\n", &v), 0);
    assert_int_equal(v.u.s.len, 0);
    assert_int_equal(parse(SHMSEG_STR, "", &v), 0);
    assert_int_equal(v.u.s.len, 0);
    assert_int_equal(shmseg_value_parse(SHMSEG_STR, NULL, 0, &v), 0);
    assert_int_equal(v.u.s.len, 0);
    assert_int_equal(parse(SHMSEG_STR, "\xe2\x82\xac", &v), 0);
    assert_int_equal(v.u.s.len, 3);
    assert_int_equal(parse(SHMSEG_STR, "bad \xff", &v), -EINVAL);
    assert_int_equal(parse(SHMSEG_STR, "\xe2\x82", &v), -EINVAL);

    /* bytes: byte-exact, newline and NULs kept, anything goes. */
    assert_int_equal(shmseg_value_parse(SHMSEG_BYTES, "a\0\xff\n", 4, &v), 0);
    assert_int_equal(v.type, SHMSEG_BYTES);
    assert_int_equal(v.u.s.len, 4);
    assert_memory_equal(v.u.s.ptr, "a\0\xff\n", 4);
}

static void test_parse_errors(void **state)
{
    (void)state;
    struct shmseg_value v;

    assert_int_equal(shmseg_value_parse((enum shmseg_type)9, "1", 1, &v),
                     -EINVAL);
    assert_int_equal(shmseg_value_parse(SHMSEG_INT, "1", 1, NULL), -EINVAL);
    assert_int_equal(shmseg_value_parse(SHMSEG_INT, NULL, 1, &v), -EINVAL);
    assert_int_equal(shmseg_value_parse(SHMSEG_INT, NULL, 0, &v), -EINVAL);
}

/* Whatever parses formats back to the same text (minus/plus the newline). */
static void test_format_parse_round_trip(void **state)
{
    (void)state;
    static const struct {
        enum shmseg_type t;
        const char *text;
    } cases[] = {
        {SHMSEG_INT, "-17\n"},   {SHMSEG_FLOAT, "1e+16\n"},
        {SHMSEG_FLOAT, "nan\n"}, {SHMSEG_FLOAT, "-0.0\n"},
        {SHMSEG_BOOL, "True\n"}, {SHMSEG_NONE, "None\n"},
        {SHMSEG_STR, "x y\n"},   {SHMSEG_BYTES, "\x01\x02"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct shmseg_value v;
        char buf[64];
        assert_int_equal(parse(cases[i].t, cases[i].text, &v), 0);
        ssize_t n = shmseg_value_format(&v, buf, sizeof(buf));
        assert_int_equal(n, strlen(cases[i].text));
        assert_memory_equal(buf, cases[i].text, (size_t)n);
    }
}

/* --- UTF-8 ------------------------------------------------------------------ */

static void test_utf8(void **state)
{
    (void)state;
    static const char *const good[] = {
        "", "plain ascii, long enough for the eight-byte path",
        "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf",
        "\xee\x80\x80", "\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf",
        "mixed \xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80 text",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(shmseg__utf8_valid(good[i], strlen(good[i])));
    assert_true(shmseg__utf8_valid("a\0b", 3)); /* NUL is valid UTF-8 */

    static const char *const bad[] = {
        "\x80",             /* lone continuation */
        "\xbf",             /* lone continuation */
        "\xc0\x80",         /* overlong NUL */
        "\xc1\xbf",         /* overlong */
        "\xe0\x9f\xbf",     /* overlong 3-byte */
        "\xed\xa0\x80",     /* surrogate */
        "\xed\xbf\xbf",     /* surrogate */
        "\xf0\x8f\xbf\xbf", /* overlong 4-byte */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "\xf5\x80\x80\x80", "\xff", "\xfe",
        "\xc3",             /* truncated */
        "\xe2\x82",         /* truncated */
        "\xf0\x9f\x98",     /* truncated */
        "\xc3\x28",         /* bad continuation */
        "\xe2\x28\xa1", "\xe2\x82\x28", "\xf0\x9f\x28\x80",
        "\xf0\x9f\x98\x28",
        "eight ok\xff",     /* after an ASCII word */
        "sixteen bytes ok\xc3",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(shmseg__utf8_valid(bad[i], strlen(bad[i])));
    /* The length bounds the check: a cut multi-byte sequence is invalid,
     * and bytes past the length are never looked at. */
    assert_false(shmseg__utf8_valid("\xe2\x82\xac", 2));
    assert_true(shmseg__utf8_valid("ok\xff", 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_float_repr_values),
        cmocka_unit_test(test_float_repr_buffer),
        cmocka_unit_test(test_format_values),
        cmocka_unit_test(test_format_buffer),
        cmocka_unit_test(test_format_errors),
        cmocka_unit_test(test_parse_int),
        cmocka_unit_test(test_parse_float),
        cmocka_unit_test(test_parse_float_long),
        cmocka_unit_test(test_parse_float_huge_scales),
        cmocka_unit_test(test_parse_float_round_trip),
        cmocka_unit_test(test_parse_other_types),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_format_parse_round_trip),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
