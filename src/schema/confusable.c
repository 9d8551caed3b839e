/* confusable.c - the look-alike skeleton of confusable.h, with ICU.
 *
 * ICU works in UTF-16: the name is converted once, put through NFKC, the
 * spoof checker's skeleton and the mark filter in UTF-16 buffers on the
 * stack, and converted back. One spoof checker serves the process: it is
 * opened on first use (pthread_once) and only read afterwards, which ICU
 * documents as safe from any number of threads. */
#include "schema/confusable.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/uspoof.h>
#include <unicode/ustring.h>
#include <unicode/utf8.h>

#include "core/utf8.h"

/* UTF-16 units for one stage; NFKC may grow a name 18-fold (U+FDFA), so
 * a 63-byte name fits with room to spare and a longer one may not. */
#define U16_MAX 2048

static USpoofChecker *checker;
static const UNormalizer2 *nfkc;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void open_checker(void)
{
    UErrorCode st = U_ZERO_ERROR;
    USpoofChecker *sc = uspoof_open(&st);
    if (U_SUCCESS(st))
        uspoof_setChecks(sc, USPOOF_CONFUSABLE, &st);
    if (U_FAILURE(st)) {
        if (sc)
            uspoof_close(sc);
        return;
    }
    st = U_ZERO_ERROR;
    const UNormalizer2 *n = unorm2_getNFKCInstance(&st);
    if (U_FAILURE(st)) {
        uspoof_close(sc);
        return;
    }
    checker = sc;
    nfkc = n;
}

static void copy_cut(const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    if (n >= cap)
        n = pm_utf8_truncate(name, n, cap - 1);
    memcpy(out, name, n);
    out[n] = '\0';
}

bool confusable_skeleton(const char *name, char *out, size_t cap)
{
    if (cap == 0)
        return false;
    pthread_once(&once, open_checker);
    size_t len = strlen(name);
    if (!checker || !pm_utf8_valid(name, len) || len > U16_MAX) {
        copy_cut(name, out, cap);
        return false;
    }
    UChar a[U16_MAX], b[U16_MAX];
    int32_t na, nb;
    UErrorCode st = U_ZERO_ERROR;
    u_strFromUTF8(a, U16_MAX, &na, name, (int32_t)len, &st);
    if (U_SUCCESS(st))
        nb = unorm2_normalize(nfkc, a, na, b, U16_MAX, &st);
    if (U_SUCCESS(st))
        na = uspoof_getSkeleton(checker, 0, b, nb, a, U16_MAX, &st);
    if (U_FAILURE(st) || st == U_STRING_NOT_TERMINATED_WARNING) {
        copy_cut(name, out, cap);
        return false;
    }
    /* the skeleton is in NFD: its marks are separate code points */
    nb = 0;
    for (int32_t i = 0; i < na;) {
        UChar32 c;
        int32_t start = i;
        U16_NEXT(a, i, na, c);
        if (u_charType(c) == U_NON_SPACING_MARK)
            continue;
        while (start < i)
            b[nb++] = a[start++];
    }
    int32_t n8;
    u_strToUTF8(out, (int32_t)(cap > INT32_MAX ? INT32_MAX : cap), &n8, b, nb, &st);
    if (U_FAILURE(st) || st == U_STRING_NOT_TERMINATED_WARNING) {
        copy_cut(name, out, cap);
        return false;
    }
    return true;
}

bool confusable_pair(const char *a, const char *b)
{
    if (!a || !b || strcmp(a, b) == 0)
        return false;
    char sa[CONFUSABLE_SKELETON_MAX], sb[CONFUSABLE_SKELETON_MAX];
    confusable_skeleton(a, sa, sizeof sa);
    confusable_skeleton(b, sb, sizeof sb);
    return strcmp(sa, sb) == 0;
}

int confusable_find_column(const pm_table *t, const char *name)
{
    if (!t || !name)
        return -1;
    char sn[CONFUSABLE_SKELETON_MAX], sc[CONFUSABLE_SKELETON_MAX];
    confusable_skeleton(name, sn, sizeof sn);
    for (size_t i = 0; i < t->ncols; i++) {
        if (strcmp(t->cols[i].name, name) == 0)
            continue;
        confusable_skeleton(t->cols[i].name, sc, sizeof sc);
        if (strcmp(sn, sc) == 0)
            return (int)i;
    }
    return -1;
}

const char *confusable_note(const char *name, char *buf, size_t cap)
{
    size_t o = 0, listed = 0, n = strlen(name);
    buf[0] = '\0';
    for (size_t i = 0; i < n;) {
        size_t k = pm_utf8_seq_len(name + i, n - i);
        if (k == 0)
            break;
        if (k > 1) {
            int32_t j = 0;
            UChar32 c;
            U8_NEXT((const uint8_t *)name + i, j, (int32_t)k, c);
            int w = listed == 4 ? snprintf(buf + o, cap - o, ", ...")
                                : snprintf(buf + o, cap - o, "%s U+%04X",
                                           listed ? "," : " (it contains", (unsigned)c);
            if (w < 0 || (size_t)w >= cap - o - 1)
                break;
            o += (size_t)w;
            if (listed++ == 4)
                break;
        }
        i += k;
    }
    if (listed)
        snprintf(buf + o, cap - o, ")");
    return buf;
}
