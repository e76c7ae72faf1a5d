/*
 * codec.c - element text: values to the text `cat` shows and back, floats
 * as Python's repr(), and UTF-8 validation.
 *
 * Nothing here depends on the C locale: numbers are written and read through
 * strings this file builds itself (digits and 'e' only), so a program that
 * calls setlocale() still gets Python's text.
 */
#include "shmseg.h"
#include "internal.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- UTF-8 ---------------------------------------------------------------- */

bool shmseg__utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < len) {
        /* ASCII runs, eight bytes at a time. */
        while (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, s + i, sizeof(w));
            if (w & UINT64_C(0x8080808080808080))
                break;
            i += 8;
        }
        if (i >= len)
            break;
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned lo = 0x80, hi = 0xBF; /* range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0)
                lo = 0xA0; /* no overlongs */
            else if (c == 0xED)
                hi = 0x9F; /* no surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0)
                lo = 0x90; /* no overlongs */
            else if (c == 0xF4)
                hi = 0x8F; /* nothing above U+10FFFF */
        } else {
            return false;
        }
        if (len - i - 1 < need)
            return false;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return false;
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
        i += need + 1;
    }
    return true;
}

/* --- type names ----------------------------------------------------------- */

static const char *const type_names[] = {
    [SHMSEG_INT] = "int",     [SHMSEG_FLOAT] = "float",
    [SHMSEG_BOOL] = "bool",   [SHMSEG_STR] = "str",
    [SHMSEG_BYTES] = "bytes", [SHMSEG_NONE] = "None",
};

#define N_TYPES (sizeof(type_names) / sizeof(type_names[0]))

const char *shmseg_type_name(enum shmseg_type type)
{
    if ((unsigned)type >= N_TYPES)
        return NULL;
    return type_names[type];
}

int shmseg_type_parse(const char *name, enum shmseg_type *out)
{
    if (!name || !out)
        return -EINVAL;
    for (size_t t = 0; t < N_TYPES; t++) {
        if (strcmp(name, type_names[t]) == 0) {
            *out = (enum shmseg_type)t;
            return 0;
        }
    }
    return -EINVAL;
}

/* --- float repr ------------------------------------------------------------ */

/* Decimal digits (no leading zero) and the exponent of the first one:
 * x = d1.d2d3... * 10^exp10. */
struct decimal {
    char digits[20];
    int ndigits;
    int exp10;
};

/* The double strtod() makes of the decimal, written as "DDDDe<exp>" (the
 * digits as an integer, scaled): no decimal point, so no locale. */
static double decimal_read(const struct decimal *d)
{
    char buf[48];
    snprintf(buf, sizeof(buf), "%.*se%d", d->ndigits, d->digits,
             d->exp10 - (d->ndigits - 1));
    return strtod(buf, NULL);
}

static bool same_double(double x, double y)
{
    return memcmp(&x, &y, sizeof(x)) == 0;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* x > 0, finite: the @p most significant digits, correctly rounded. */
static void digits_rounded(double x, int p, struct decimal *d)
{
    char buf[48];
    int n = snprintf(buf, sizeof(buf), "%.*e", p - 1, x);
    d->ndigits = 0;
    const char *c = buf;
    for (; c < buf + n && *c != 'e'; c++)
        if (is_digit(*c)) /* skips the locale's decimal point */
            d->digits[d->ndigits++] = *c;
    d->exp10 = atoi(c + 1);
}

/* Step the last digit of @d by +1 or -1, carrying; stays p digits long. */
static void digits_step(struct decimal *d, int dir)
{
    int i = d->ndigits - 1;
    if (dir > 0) {
        while (i >= 0 && d->digits[i] == '9')
            d->digits[i--] = '0';
        if (i < 0) { /* 99..9 + 1 = 100..0 */
            d->digits[0] = '1';
            d->exp10++;
        } else {
            d->digits[i]++;
        }
    } else {
        while (i >= 0 && d->digits[i] == '0')
            d->digits[i--] = '9';
        d->digits[i]--; /* i >= 0: the first digit is never 0 */
        if (d->digits[0] == '0') { /* 100..0 - 1 = 99..9: one digit less */
            memmove(d->digits, d->digits + 1, (size_t)d->ndigits - 1);
            d->digits[d->ndigits - 1] = '9';
            d->exp10--;
        }
    }
}

/*
 * Is there a decimal of @p significant digits that reads back as x?  If so,
 * put the one closest to x in @d.  The correctly rounded p digits are the
 * closest p-digit decimal; when x is a power of two its rounding interval
 * is narrower below than above, so the closest may miss while the nearest
 * p-digit decimal on the other side of x still reads back: try that too.
 * Those two are the closest on each side, so this finds a p-digit decimal
 * whenever one exists, and then also whenever a shorter one does (padded
 * with zeros it is a p-digit decimal): the answer only grows with p.
 */
static bool digits_fit(double x, int p, struct decimal *d)
{
    digits_rounded(x, p, d);
    double y = decimal_read(d);
    if (same_double(x, y))
        return true;
    /* strtod rounds monotonically: y lies on the decimal's side of x. */
    struct decimal other = *d;
    digits_step(&other, y < x ? 1 : -1);
    if (same_double(x, decimal_read(&other))) {
        *d = other;
        return true;
    }
    return false;
}

/*
 * The shortest digits that read back as x (x > 0, finite), the closest to x
 * when several have that length: what Python's repr() (David Gay's mode 0)
 * gives.  17 digits always read back; digits_fit() only grows with p, so
 * search for the smallest p.  Most doubles need 16 or 17 digits, so look
 * there first, then bisect the short ones.
 */
static void shortest_digits(double x, struct decimal *d)
{
    struct decimal cand;

    if (!digits_fit(x, 16, d)) {
        digits_rounded(x, 17, d);
    } else if (digits_fit(x, 15, &cand)) {
        *d = cand;
        int lo = 1, hi = 15; /* hi fits; find the smallest that does */
        while (lo < hi) {
            int mid = lo + (hi - lo) / 2;
            if (digits_fit(x, mid, &cand)) {
                *d = cand;
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
    }
    while (d->ndigits > 1 && d->digits[d->ndigits - 1] == '0')
        d->ndigits--;
}

int shmseg_float_repr(double x, char *buf, size_t cap)
{
    char out[SHMSEG_FLOAT_REPR_MAX + 8];
    size_t n = 0;

    if (isnan(x)) {
        memcpy(out, "nan", 3);
        n = 3;
        goto done;
    }
    if (signbit(x))
        out[n++] = '-';
    if (isinf(x)) {
        memcpy(out + n, "inf", 3);
        n += 3;
        goto done;
    }
    if (x == 0) {
        memcpy(out + n, "0.0", 3);
        n += 3;
        goto done;
    }

    struct decimal d;
    shortest_digits(fabs(x), &d);
    int e = d.exp10;
    if (e >= -4 && e < 16) {
        /* Fixed notation, at least one digit each side of the point. */
        if (e < 0) {
            out[n++] = '0';
            out[n++] = '.';
            for (int k = -1; k > e; k--)
                out[n++] = '0';
            memcpy(out + n, d.digits, (size_t)d.ndigits);
            n += (size_t)d.ndigits;
        } else {
            for (int k = 0; k <= e; k++)
                out[n++] = k < d.ndigits ? d.digits[k] : '0';
            out[n++] = '.';
            if (d.ndigits > e + 1) {
                memcpy(out + n, d.digits + e + 1, (size_t)(d.ndigits - e - 1));
                n += (size_t)(d.ndigits - e - 1);
            } else {
                out[n++] = '0';
            }
        }
    } else {
        /* d[.ddd]e+XX, exponent with a sign and at least two digits. */
        out[n++] = d.digits[0];
        if (d.ndigits > 1) {
            out[n++] = '.';
            memcpy(out + n, d.digits + 1, (size_t)d.ndigits - 1);
            n += (size_t)d.ndigits - 1;
        }
        n += (size_t)snprintf(out + n, sizeof(out) - n, "e%c%02d",
                              e < 0 ? '-' : '+', abs(e));
    }
done:
    if (cap > 0) {
        size_t k = n < cap ? n : cap - 1;
        memcpy(buf, out, k);
        buf[k] = '\0';
    }
    return (int)n;
}

/* --- formatting values ---------------------------------------------------- */

/* Copy @len bytes of @src to @buf at @pos, as far as @cap allows. */
static void put(char *buf, size_t cap, size_t pos, const void *src,
                size_t len)
{
    if (pos >= cap)
        return;
    if (len > cap - pos)
        len = cap - pos;
    if (len)
        memcpy(buf + pos, src, len);
}

ssize_t shmseg_value_format(const struct shmseg_value *v, char *buf,
                            size_t cap)
{
    char num[SHMSEG_FLOAT_REPR_MAX + 8];
    const char *text = num;
    size_t len;

    if (!v || (!buf && cap))
        return -EINVAL;
    switch (v->type) {
    case SHMSEG_INT:
        len = (size_t)snprintf(num, sizeof(num), "%" PRId64, v->u.i);
        break;
    case SHMSEG_FLOAT:
        len = (size_t)shmseg_float_repr(v->u.f, num, sizeof(num));
        break;
    case SHMSEG_BOOL:
        text = v->u.b ? "True" : "False";
        len = strlen(text);
        break;
    case SHMSEG_NONE:
        text = "None";
        len = 4;
        break;
    case SHMSEG_STR:
    case SHMSEG_BYTES:
        if (!v->u.s.ptr && v->u.s.len)
            return -EINVAL;
        if (v->u.s.len >= (size_t)PTRDIFF_MAX)
            return -EINVAL; /* the length would not fit the result */
        text = v->u.s.ptr;
        len = v->u.s.len;
        if (v->type == SHMSEG_BYTES) {
            put(buf, cap, 0, text, len);
            return (ssize_t)len;
        }
        break;
    default:
        return -EINVAL;
    }
    put(buf, cap, 0, text, len);
    put(buf, cap, len, "\n", 1);
    return (ssize_t)len + 1;
}

/* --- parsing values ------------------------------------------------------- */

static int parse_int(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    bool neg = false;

    if (i < len && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i == len)
        return -EINVAL;
    /* Accumulate as a negative number: INT64_MIN has no positive twin. */
    int64_t acc = 0;
    bool range = false;
    for (; i < len; i++) {
        if (!is_digit(s[i]))
            return -EINVAL;
        int dig = s[i] - '0';
        if (acc < (INT64_MIN + dig) / 10)
            range = true; /* keep going: a later non-digit is EINVAL */
        else
            acc = acc * 10 - dig;
    }
    if (range || (!neg && acc == INT64_MIN))
        return -ERANGE;
    *out = neg ? acc : -acc;
    return 0;
}

/* Case-insensitive match of s[0..len) against lowercase @word. */
static bool word_is(const char *s, size_t len, const char *word)
{
    if (strlen(word) != len)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != word[i])
            return false;
    }
    return true;
}

/* An exponent in the text saturates here: far beyond any double, and far
 * from int64 overflow when a text length is added to it. */
#define EXP_SATURATE INT64_C(100000000000000000)
/* Every decimal of magnitude 10^DEC_EXP_MAX or more overflows a double, and
 * every one below 10^-DEC_EXP_MAX underflows to zero. */
#define DEC_EXP_MAX 400

static int parse_float(const char *s, size_t len, double *out)
{
    size_t i = 0;
    bool neg = false;

    if (i < len && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    const char *rest = s + i;
    size_t rlen = len - i;
    if (word_is(rest, rlen, "inf") || word_is(rest, rlen, "infinity")) {
        *out = neg ? -INFINITY : INFINITY;
        return 0;
    }
    if (word_is(rest, rlen, "nan")) {
        *out = neg ? -NAN : NAN;
        return 0;
    }

    /* [digits][.digits] with at least one digit, then [eE][+-]digits. */
    size_t int_start = i;
    while (i < len && is_digit(s[i]))
        i++;
    size_t int_end = i, frac_start = i, frac_end = i;
    if (i < len && s[i] == '.') {
        frac_start = ++i;
        while (i < len && is_digit(s[i]))
            i++;
        frac_end = i;
    }
    if (int_end == int_start && frac_end == frac_start)
        return -EINVAL;
    int64_t exp = 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        if (i == len || !is_digit(s[i]))
            return -EINVAL;
        for (; i < len && is_digit(s[i]); i++)
            if (exp < EXP_SATURATE)
                exp = exp * 10 + (s[i] - '0');
        if (eneg)
            exp = -exp;
    }
    if (i != len)
        return -EINVAL;

    /* The value is DIGITS * 10^scale, DIGITS the integer and fraction
     * digits run together.  Rebuild it as "[-]DIGITSe<scale>" without
     * leading and trailing zeros: no decimal point, so no locale, and
     * strtod() rounds correctly however many digits are left. */
    size_t nint = int_end - int_start, nfrac = frac_end - frac_start;
    size_t m = nint + nfrac, cap = m + 32;
    char small[256];
    char *buf = cap <= sizeof(small) ? small : malloc(cap);
    if (!buf)
        return -ENOMEM;
    char *dig = buf + 1; /* room for the sign */
    memcpy(dig, s + int_start, nint);
    memcpy(dig + nint, s + frac_start, nfrac);
    int64_t scale = exp - (int64_t)nfrac;
    size_t lead = 0, end = m;
    while (lead < m && dig[lead] == '0')
        lead++;
    while (end > lead && dig[end - 1] == '0') {
        end--;
        scale++;
    }
    int64_t sig = (int64_t)(end - lead);

    /* DIGITS * 10^scale lies in [10^(scale+sig-1), 10^(scale+sig)). */
    int err = 0;
    double x = 0;
    if (sig > 0 && scale + sig - 1 >= DEC_EXP_MAX) {
        err = -ERANGE;
    } else if (sig > 0 && scale + sig > -DEC_EXP_MAX) {
        char *p = buf;
        if (neg)
            *p++ = '-';
        memmove(p, dig + lead, (size_t)sig);
        p += sig;
        snprintf(p, cap - (size_t)(p - buf), "e%" PRId64, scale);
        errno = 0;
        x = strtod(buf, NULL);
        if (errno == ERANGE && isinf(x))
            err = -ERANGE; /* overflow; underflow to 0 or a subnormal is
                              what Python's float() gives too */
    } else {
        x = neg ? -0.0 : 0.0; /* zero, or too small for any double */
    }
    if (buf != small)
        free(buf);
    if (err < 0)
        return err;
    *out = x;
    return 0;
}

int shmseg_value_parse(enum shmseg_type type, const char *text, size_t len,
                       struct shmseg_value *out)
{
    if (!out || (!text && len))
        return -EINVAL;
    if (type != SHMSEG_BYTES && len && text[len - 1] == '\n')
        len--;

    struct shmseg_value v = {.type = type};
    int err = 0;
    switch (type) {
    case SHMSEG_INT:
        err = parse_int(text, len, &v.u.i);
        break;
    case SHMSEG_FLOAT:
        err = parse_float(text, len, &v.u.f);
        break;
    case SHMSEG_BOOL:
        if (len == 4 && memcmp(text, "True", 4) == 0)
            v.u.b = true;
        else if (len == 5 && memcmp(text, "False", 5) == 0)
            v.u.b = false;
        else
            err = -EINVAL;
        break;
    case SHMSEG_NONE:
        if (len != 4 || memcmp(text, "None", 4) != 0)
            err = -EINVAL;
        break;
    case SHMSEG_STR:
        if (!shmseg__utf8_valid(text, len))
            return -EINVAL;
        /* fall through */
    case SHMSEG_BYTES:
        v.u.s.ptr = text;
        v.u.s.len = len;
        break;
    default:
        return -EINVAL;
    }
    if (err < 0)
        return err;
    *out = v;
    return 0;
}
