/* glibc's _FORTIFY_SOURCE entry points that Debian's libseccomp.a calls, for a musl link.
 * libseccomp-dev is built against glibc with _FORTIFY_SOURCE=2: its static archive calls
 * __fprintf_chk (seccomp_export_pfc's writer). musl has no *_chk functions; this one does what
 * glibc's does apart from the format check (flag > 0 only rejects %n in writable formats). */
#include <stdarg.h>

typedef struct _IO_FILE FILE;
int vfprintf(FILE *restrict stream, const char *restrict format, va_list ap);

int __fprintf_chk(FILE *stream, int flag, const char *format, ...)
{
	va_list ap;
	int written;

	(void)flag;
	va_start(ap, format);
	written = vfprintf(stream, format, ap);
	va_end(ap);
	return written;
}
