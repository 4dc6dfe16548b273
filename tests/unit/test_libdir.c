/* omx_system_lib_dir: the directory names ld.so's secure mode may load a bare
 * LD_PRELOAD name from, for the build's triplet and for another (a library
 * built for arm64 installed in /usr/lib/aarch64-linux-gnu, the setuid-loadable
 * directory there), and the look-alikes that are not. */
#include <string.h>

#include "libdir.h"
#include "tap.h"

static int sys(const char *dir, const char *multiarch)
{
	return omx_system_lib_dir(dir, strlen(dir), multiarch);
}

int main(void)
{
	static const char *const yes[] = { "/lib", "/usr/lib", "/lib64", "/usr/lib64" };
	static const char *const no[] = {
		"/", "", "/usr", "/usr/local/lib", "/usr/lib/x86_64-linux-gnu/torsocks", "/tmp",
		"/usr/lib/x86_64-linux-gnu/", "/lib/..", "/usr/lib/.", "/usr/lib/onionmx",
		"/usr/libx86_64-linux-gnu", "/opt/lib/x86_64-linux-gnu", "/usr/lib/-linux-",
		"/home/u/lib", "/usr/lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v3",
	};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		ok(sys(yes[i], "x86_64-linux-gnu"), "%s: a generic system directory", yes[i]);
		ok(sys(yes[i], ""), "%s: also without a build triplet", yes[i]);
	}
	ok(sys("/usr/lib/x86_64-linux-gnu", "x86_64-linux-gnu"), "the build's triplet under /usr/lib");
	ok(sys("/lib/x86_64-linux-gnu", "x86_64-linux-gnu"), "the build's triplet under /lib");
	ok(sys("/usr/lib/aarch64-linux-gnu", "aarch64-linux-gnu"), "arm64 build: /usr/lib/aarch64-linux-gnu");
	ok(sys("/lib/aarch64-linux-gnu", "aarch64-linux-gnu"), "arm64 build: /lib/aarch64-linux-gnu");
	ok(sys("/usr/lib/aarch64-linux-gnu", "x86_64-linux-gnu"),
	   "another triplet than the build's: still by its form (ld.so decides at run time)");
	ok(sys("/usr/lib/arm-linux-gnueabihf", ""), "armhf, no build triplet: by its form");
	ok(sys("/usr/lib/riscv64-linux-gnu", ""), "riscv64: by its form");
	ok(sys("/usr/lib/weird", "weird"), "a triplet without -linux- that the build named");
	ok(!sys("/usr/lib/weird", ""), "the same, not named by the build: no");
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ok(!sys(no[i], "x86_64-linux-gnu"), "\"%s\": not a system library directory", no[i]);
	ok(omx_system_lib_dir("/usr/lib/x86_64-linux-gnu/libonionmx.so", 25, "x86_64-linux-gnu"),
	   "the directory part of the library's path, by length");
	ok(!omx_system_lib_dir("/usr/lib/x86_64-linux-gnu/libonionmx.so", 12, "x86_64-linux-gnu"),
	   "\"/usr/lib/x86\" by length: no");
	ok(omx_system_lib_dir("/usr/lib/x", 8, NULL), "\"/usr/lib\" by length, NULL triplet");
	return done_testing();
}
