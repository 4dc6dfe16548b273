/* mapped_pages PID NAME: for each mapping of process PID whose file path ends
 * in NAME, one line "PERMS OFFSET PAGES MAPPED COPIED": its pages, how many
 * of them the process has mapped (present), and how many of those are its own
 * (not the file's page-cache page: copied on write). From /proc/PID/maps and
 * /proc/PID/pagemap (the present and file-page bits need no privilege).
 * Exit status 1 when no mapping matched. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PM_PRESENT (1ull << 63)
#define PM_FILE (1ull << 61)

int main(int argc, char **argv)
{
	char path[64], line[4352];
	long page = sysconf(_SC_PAGESIZE);
	FILE *maps;
	int pagemap, found = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: mapped_pages PID NAME\n");
		return 2;
	}
	snprintf(path, sizeof(path), "/proc/%s/maps", argv[1]);
	maps = fopen(path, "r");
	snprintf(path, sizeof(path), "/proc/%s/pagemap", argv[1]);
	pagemap = open(path, O_RDONLY);
	if (!maps || pagemap < 0) {
		perror(path);
		return 2;
	}
	while (fgets(line, sizeof(line), maps)) {
		unsigned long lo, hi, off;
		char perms[8], file[4096] = "";
		size_t flen, nlen = strlen(argv[2]);
		long mapped = 0, copied = 0;

		if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %4095s", &lo, &hi, perms, &off, file) < 4)
			continue;
		flen = strlen(file);
		if (flen < nlen || strcmp(file + flen - nlen, argv[2]) != 0)
			continue;
		for (unsigned long a = lo; a < hi; a += (unsigned long)page) {
			uint64_t e;

			if (pread(pagemap, &e, sizeof(e), (off_t)(a / (unsigned long)page * sizeof(e))) !=
			    (ssize_t)sizeof(e)) {
				perror("pagemap");
				return 2;
			}
			mapped += !!(e & PM_PRESENT);
			copied += (e & PM_PRESENT) && !(e & PM_FILE);
		}
		printf("%s %lx %lu %ld %ld\n", perms, off, (hi - lo) / (unsigned long)page, mapped, copied);
		found = 1;
	}
	return found ? 0 : 1;
}
