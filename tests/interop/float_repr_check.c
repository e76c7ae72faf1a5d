/*
 * float_repr_check.c - reads lines "HEX16 REPR" (the IEEE-754 bits of a
 * double and Python's repr() of it) on stdin and checks that
 * shmseg_float_repr() writes the same text and that shmseg_value_parse()
 * reads that text back to the same bits (any NaN for NaN).  Prints each
 * failure (the first 50) and a summary line; exits 1 on any failure.
 */
#include "shmseg.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REPORTS 50

int main(void)
{
    char line[256];
    unsigned long passed = 0, failed = 0, lineno = 0;

    while (fgets(line, sizeof(line), stdin)) {
        lineno++;
        uint64_t bits;
        char want[128];
        if (sscanf(line, "%16" SCNx64 " %127s", &bits, want) != 2) {
            fprintf(stderr, "line %lu: malformed input: %s", lineno, line);
            return 2;
        }
        double x;
        memcpy(&x, &bits, sizeof(x));

        char got[SHMSEG_FLOAT_REPR_MAX + 1];
        int len = shmseg_float_repr(x, got, sizeof(got));
        const char *why = NULL;
        struct shmseg_value v;
        if (len < 0 || (size_t)len >= sizeof(got))
            why = "repr too long";
        else if (strcmp(got, want) != 0)
            why = "repr differs";
        else if (shmseg_value_parse(SHMSEG_FLOAT, got, (size_t)len, &v) != 0)
            why = "text does not parse";
        else if (isnan(x) ? !isnan(v.u.f)
                          : memcmp(&x, &v.u.f, sizeof(x)) != 0)
            why = "text parses to other bits";

        if (!why) {
            passed++;
            continue;
        }
        if (failed++ < MAX_REPORTS)
            printf("FAIL %016" PRIx64 ": %s: python %s, shmseg %s\n", bits,
                   why, want, len < 0 ? "(error)" : got);
    }
    if (ferror(stdin)) {
        perror("stdin");
        return 2;
    }
    printf("float_repr: %lu passed, %lu failed\n", passed, failed);
    return failed ? 1 : 0;
}
