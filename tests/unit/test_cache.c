/* The discovery cache: one file shared by every process of the MTA. Answers
 * and addresses must agree across handles, processes and restarts; expiry,
 * eviction and a full table must behave; a file that is not ours, or is
 * damaged, must never route mail. */
#include "cache.h"
#include "map.h"
#include "onion.h"
#include "sha3.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/omx-test-cache.XXXXXX";
static uint32_t net, mask;

static void onion(unsigned i, char out[OMX_ONION_LABEL_LEN + 1])
{
	char in[64];
	uint8_t key[32];

	snprintf(in, sizeof(in), "cache-test/%u", i);
	omx_sha3_256(in, strlen(in), key);
	omx_onion_from_pubkey(key, out);
}

static void result(struct omx_srv_result *r, unsigned first, int n, uint32_t ttl)
{
	memset(r, 0, sizeof(*r));
	r->status = OMX_SRV_ONION;
	r->ttl = ttl;
	r->n = n;
	r->secure = 1;
	for (int i = 0; i < n; i++) {
		onion(first + (unsigned)i, r->rec[i].onion);
		r->rec[i].priority = (uint16_t)i;
		r->rec[i].weight = 5;
		r->rec[i].port = (uint16_t)(2500 + i);
	}
}

static void test_open(void)
{
	struct omx_cache c, c2;
	char path[256], err[512];
	struct stat st;
	uint32_t other_net, other_mask;

	snprintf(path, sizeof(path), "%s/cache", dir);
	is_int(omx_cache_open(&c, path, net, mask, 0, err, sizeof(err)), 0, "creates a missing cache");
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600,
	   "mode 0600: recent recipient domains are nobody else's business");
	is_int(c.shared, 1, "a shared file");
	is_int(omx_cache_open(&c2, path, net, mask, 0, err, sizeof(err)), 0, "opens it again");
	omx_cache_close(&c2);

	omx_parse_range("10.0.0.0/8", &other_net, &other_mask);
	is_int(omx_cache_open(&c2, path, other_net, other_mask, 0, err, sizeof(err)), -1,
	       "another range: refused");
	ok(strstr(err, path) && strstr(err, "248.0.0.0/8") && strstr(err, "10.0.0.0/8"),
	   "the message names the file and both ranges (%s)", err);
	omx_parse_range("248.0.0.0/20", &other_net, &other_mask);
	is_int(omx_cache_open(&c2, path, other_net, other_mask, 0, err, sizeof(err)), -1,
	       "a range too small for the table: refused");
	ok(!omx_cache_range_ok(other_net, other_mask), "/20 is too small");
	omx_parse_range("248.0.0.0/17", &other_net, &other_mask);
	ok(omx_cache_range_ok(other_net, other_mask), "/17 is enough");

	chmod(path, 0664);
	is_int(omx_cache_open(&c2, path, net, mask, 0, err, sizeof(err)), -1,
	       "group-writable: refused");
	ok(strstr(err, "writable") != NULL, "says why (%s)", err);
	chmod(path, 0644);
	is_int(omx_cache_open(&c2, path, net, mask, 0, err, sizeof(err)), 0,
	       "(control: mode 0644, made by an older version, still opens)");
	omx_cache_close(&c2);
	chmod(path, 0600);
	/* Whoever can write the directory can replace the file. */
	{
		char sub[300], in[320];
		snprintf(sub, sizeof(sub), "%s/opendir", dir);
		snprintf(in, sizeof(in), "%s/cache", sub);
		mkdir(sub, 0755);
		chmod(sub, 0775);
		is_int(omx_cache_open(&c2, in, net, mask, 0, err, sizeof(err)), -1,
		       "a group-writable directory: refused");
		ok(strstr(err, "its directory") && strstr(err, sub), "naming the directory (%s)", err);
		ok(access(in, F_OK) != 0, "and nothing created in it");
		chmod(sub, 0777 | S_ISVTX);
		is_int(omx_cache_open(&c2, in, net, mask, 0, err, sizeof(err)), -1,
		       "a world-writable sticky directory (/tmp): refused");
		chmod(sub, 0755);
		is_int(omx_cache_open(&c2, in, net, mask, 0, err, sizeof(err)), 0,
		       "(control: the same directory, mode 0755: created)");
		omx_cache_close(&c2);
		if (geteuid() == 0) {
			ok(chown(sub, 65534, 65534) == 0, "directory given to nobody");
			is_int(omx_cache_open(&c2, in, net, mask, 0, err, sizeof(err)), -1,
			       "a directory owned by another user: refused");
			ok(chown(sub, 0, 0) == 0, "and back to root");
		}
	}
	if (geteuid() == 0) {
		ok(chown(path, 65534, 65534) == 0, "chown to nobody");
		is_int(omx_cache_open(&c2, path, net, mask, 0, err, sizeof(err)), -1,
		       "owned by another user: refused");
		ok(chown(path, 0, 0) == 0, "chown back");
	}
	{
		char link[300];
		snprintf(link, sizeof(link), "%s/link", dir);
		ok(symlink(path, link) == 0, "symlink made");
		is_int(omx_cache_open(&c2, link, net, mask, 0, err, sizeof(err)), -1,
		       "a symlink: refused");
	}
	{
		char junk[300];
		int fd;
		snprintf(junk, sizeof(junk), "%s/junk", dir);
		fd = open(junk, O_CREAT | O_WRONLY, 0644);
		ok(fd >= 0 && write(fd, "not a cache\n", 12) == 12, "junk file written");
		close(fd);
		is_int(omx_cache_open(&c2, junk, net, mask, 0, err, sizeof(err)), -1,
		       "a file that is not a cache: refused");
		ok(strstr(err, "not an onionmx cache") != NULL, "says so (%s)", err);
	}
	{
		/* A file of the previous layout (2: verdicts without their reason). */
		char old[300];
		int fd;

		snprintf(old, sizeof(old), "%s/layout2", dir);
		is_int(omx_cache_open(&c2, old, net, mask, 0, err, sizeof(err)), 0, "a cache made");
		omx_cache_close(&c2);
		fd = open(old, O_WRONLY);
		ok(fd >= 0 && pwrite(fd, "onionmx cache 2", 16, 0) == 16, "its magic made layout 2's");
		close(fd);
		is_int(omx_cache_open(&c2, old, net, mask, 0, err, sizeof(err)), -1, "layout 2: refused");
		ok(strstr(err, "remove it") != NULL, "saying to remove it (%s)", err);
	}
	{
		char nodir[300];
		snprintf(nodir, sizeof(nodir), "%s/missing/cache", dir);
		is_int(omx_cache_open(&c2, nodir, net, mask, 0, err, sizeof(err)), -1,
		       "a cache in a missing directory: error");
		ok(strstr(err, nodir) != NULL, "naming the path (%s)", err);
	}
	omx_cache_close(&c);
}

static void test_answers(void)
{
	struct omx_cache c, c2;
	struct omx_srv_result r, got;
	char path[256], err[512];
	time_t now = 1000000;

	snprintf(path, sizeof(path), "%s/answers", dir);
	omx_cache_open(&c, path, net, mask, 0, err, sizeof(err));
	omx_cache_open(&c2, path, net, mask, 0, err, sizeof(err));
	is_int(omx_cache_get(&c, "example.org", now, &got), 0, "empty cache: miss");
	result(&r, 1, 3, 300);
	is_int(omx_cache_put(&c, "example.org", now, &r), 0, "stored");
	is_int(omx_cache_get(&c2, "example.org", now + 10, &got), 1, "a second handle sees it");
	is_int(got.status, OMX_SRV_ONION, "status kept");
	is_int(got.n, 3, "records kept");
	is_str(got.rec[2].onion, r.rec[2].onion, "onions kept");
	is_int(got.rec[1].port, 2501, "ports kept");
	is_int(got.rec[2].priority, 2, "priorities kept");
	is_int(got.rec[0].weight, 5, "weights kept");
	is_int(got.secure, 1, "DNSSEC status kept");
	is_int(got.ttl, 290, "TTL counts down");
	is_int(omx_cache_get(&c2, "example.org", now + 300, &got), 0, "expired at its TTL");
	is_int(omx_cache_get(&c2, "EXAMPLE.org", now, &got), 0, "keys are exact (callers lower-case)");

	memset(&r, 0, sizeof(r));
	r.status = OMX_SRV_NONE;
	r.ttl = 60;
	omx_cache_put(&c, "none.example", now, &r);
	is_int(omx_cache_get(&c2, "none.example", now + 1, &got), 1, "a negative answer is cached");
	is_int(got.status, OMX_SRV_NONE, "as NONE");
	/* An unusable verdict keeps its reason (onionmx-check shows it from the cache). */
	memset(&r, 0, sizeof(r));
	r.status = OMX_SRV_UNUSABLE;
	r.ttl = 60;
	snprintf(r.detail, sizeof(r.detail), "unsigned answer not used: the domain publishes MTA-STS");
	omx_cache_put(&c, "sts.example", now, &r);
	is_int(omx_cache_get(&c2, "sts.example", now + 1, &got), 1, "an unusable verdict is cached");
	is_int(got.status, OMX_SRV_UNUSABLE, "as UNUSABLE");
	is_str(got.detail, "unsigned answer not used: the domain publishes MTA-STS", "with its reason");
	memset(r.detail, 'x', sizeof(r.detail));
	omx_cache_put(&c, "long.example", now, &r);
	omx_cache_get(&c2, "long.example", now + 1, &got);
	is_int((int)strlen(got.detail), (int)sizeof(got.detail) - 1, "an unterminated reason is cut, terminated");
	r.status = OMX_SRV_TEMPFAIL;
	r.ttl = 60;
	omx_cache_put(&c, "fail.example", now, &r);
	is_int(omx_cache_get(&c2, "fail.example", now + 1, &got), 0, "a failure is never cached");
	r.status = OMX_SRV_NONE;
	r.ttl = 0;
	omx_cache_put(&c, "zero.example", now, &r);
	is_int(omx_cache_get(&c2, "zero.example", now, &got), 0, "TTL 0: not cached");

	/* Replacing an answer. */
	result(&r, 50, 1, 100);
	omx_cache_put(&c, "example.org", now, &r);
	omx_cache_get(&c2, "example.org", now, &got);
	is_int(got.n, 1, "a newer answer replaces the old one");

	/* Many domains: each hit is the domain's own answer; some may be evicted. */
	{
		int wrong = 0, hits = 0;
		char d[64];
		for (unsigned i = 0; i < 6000; i++) {
			snprintf(d, sizeof(d), "d%u.example", i);
			result(&r, 1000 + i % 300, 1, 3600);
			omx_cache_put(&c, d, now, &r);
		}
		for (unsigned i = 0; i < 6000; i++) {
			char want[57];
			snprintf(d, sizeof(d), "d%u.example", i);
			onion(1000 + i % 300, want);
			if (omx_cache_get(&c2, d, now, &got)) {
				hits++;
				if (strcmp(got.rec[0].onion, want) != 0)
					wrong++;
			}
		}
		printf("# 6000 domains in %d slots: %d still cached\n", OMX_CACHE_DOMAIN_SLOTS, hits);
		is_int(wrong, 0, "6000 domains: every hit is the domain's own answer");
		ok(hits > OMX_CACHE_DOMAIN_SLOTS / 2, "most slots in use (%d hits)", hits);
	}
	omx_cache_close(&c);
	omx_cache_close(&c2);
}

static void test_addresses(void)
{
	struct omx_cache c, c2;
	struct omx_target t;
	char path[256], err[512], label[57], upper[57];
	uint32_t a1, a2, a3;
	time_t now = 2000000;

	snprintf(path, sizeof(path), "%s/addr", dir);
	omx_cache_open(&c, path, net, mask, 0, err, sizeof(err));
	onion(1, label);
	is_int(omx_cache_onion_addr(&c, label, 56, &a1), 0, "unknown onion: no address");
	is_int(omx_cache_assign(&c, label, 2525, now, &a1), 1, "assigned");
	ok((a1 & mask) == net, "inside the discovery range");
	ok((a1 & 255) != 0 && (a1 & 255) != 255, "never .0 or .255");
	is_int(omx_cache_assign(&c, label, 2525, now, &a2), 1, "assigned again");
	is_int(a2, a1, "the same address");
	for (int i = 0; i < 57; i++)
		upper[i] = (char)(label[i] >= 'a' && label[i] <= 'z' ? label[i] - 32 : label[i]);
	is_int(omx_cache_onion_addr(&c, upper, 56, &a3), 1, "found in any case");
	is_int(a3, a1, "same address");
	is_int(omx_cache_addr_onion(&c, a1, &t), 1, "the address leads back to the onion");
	is_str(t.onion, label, "that onion");
	is_int(t.port, 2525, "with its SRV port");
	omx_cache_assign(&c, label, 26, now, &a2);
	omx_cache_addr_onion(&c, a1, &t);
	is_int(t.port, 26, "the latest port wins");
	is_int(omx_cache_addr_onion(&c, a1 + 1, &t), 0, "a neighbouring address: nothing");
	is_int(omx_cache_addr_onion(&c, 0x0a000001, &t), 0, "outside the range: nothing");
	is_int(omx_cache_assign(&c, "notanonion", 25, now, &a2), 0, "an invalid label gets nothing");
	omx_cache_close(&c);

	/* A new handle, as after a restart: same address. */
	omx_cache_open(&c2, path, net, mask, 0, err, sizeof(err));
	is_int(omx_cache_onion_addr(&c2, label, 56, &a2), 1, "after reopening: still there");
	is_int(a2, a1, "same address");

	/* Thousands of onions: distinct addresses, each leads back. */
	{
		int bad = 0, assigned = 0;
		static uint32_t addrs[5000];
		for (unsigned i = 0; i < 5000; i++) {
			onion(100 + i, label);
			if (!omx_cache_assign(&c2, label, 25, now, &addrs[i]))
				continue;
			assigned++;
		}
		for (unsigned i = 0; i < 5000; i++) {
			onion(100 + i, label);
			if (!omx_cache_addr_onion(&c2, addrs[i], &t) || strcmp(t.onion, label) != 0)
				bad++;
		}
		is_int(assigned, 5000, "5000 onions all get an address");
		is_int(bad, 0, "and every address leads back to its own onion");
	}
	omx_cache_close(&c2);
}

static void test_full_and_reuse(void)
{
	struct omx_cache c;
	struct omx_target t;
	char err[512], label[57];
	uint32_t a, first_addr = 0;
	time_t now = 3000000;
	unsigned i, got = 0;

	omx_cache_open_anonymous(&c, net, mask, err, sizeof(err));
	is_int(c.shared, 0, "anonymous cache");
	unsigned refused = 0;

	for (i = 0; i < OMX_CACHE_ADDR_SLOTS + 200; i++) {
		onion(100000 + i, label);
		if (omx_cache_assign(&c, label, 25, now, &a)) {
			if (!got)
				first_addr = a;
			got++;
		} else if (!refused) {
			refused = 100000 + i; /* its whole sequence is taken */
		}
	}
	printf("# %u of %u onions placed in %d slots\n", got, i, OMX_CACHE_ADDR_SLOTS);
	ok(got <= OMX_CACHE_ADDR_SLOTS && got > OMX_CACHE_ADDR_SLOTS * 9 / 10,
	   "the table fills up to its size (%u)", got);
	ok(refused != 0, "some onion found its whole sequence taken");
	onion(refused, label);
	is_int(omx_cache_assign(&c, label, 25, now + 86400, &a), 0,
	       "full table: no address while the others are in use (the caller defers)");
	is_int(omx_cache_assign(&c, label, 25, now + OMX_CACHE_ADDR_IDLE + 1, &a), 1,
	       "once they idled for the reuse period, one is reused");
	ok(omx_cache_addr_onion(&c, a, &t) && strcmp(t.onion, label) == 0,
	   "and the address now leads to the new onion");
	ok(first_addr != 0, "first address recorded");
	omx_cache_close(&c);
}

static void test_processes(void)
{
	struct omx_cache c;
	char path[256], err[512], label[57];
	int status, all_ok = 1;
	pid_t kids[4];

	snprintf(path, sizeof(path), "%s/procs", dir);
	/* Four processes open the file at once (one creates it) and assign the
	 * same 400 onions in different orders. */
	for (int k = 0; k < 4; k++) {
		kids[k] = fork();
		if (kids[k] == 0) {
			struct omx_cache mine;
			char l[57];
			uint32_t a;
			if (omx_cache_open(&mine, path, net, mask, 0, err, sizeof(err)) != 0)
				_exit(2);
			for (unsigned i = 0; i < 400; i++) {
				onion(5000 + (k % 2 ? 399 - i : i), l);
				if (!omx_cache_assign(&mine, l, 25, 100, &a))
					_exit(3);
			}
			_exit(0);
		}
	}
	for (int k = 0; k < 4; k++) {
		waitpid(kids[k], &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			all_ok = 0;
	}
	ok(all_ok, "four processes created/opened the cache and assigned concurrently");
	omx_cache_open(&c, path, net, mask, 0, err, sizeof(err));
	{
		int bad = 0;
		static uint32_t seen[400];
		for (unsigned i = 0; i < 400; i++) {
			struct omx_target t;
			onion(5000 + i, label);
			if (!omx_cache_onion_addr(&c, label, 56, &seen[i]) ||
			    !omx_cache_addr_onion(&c, seen[i], &t) || strcmp(t.onion, label) != 0)
				bad++;
			for (unsigned j = 0; j < i; j++)
				if (seen[j] == seen[i])
					bad++;
		}
		is_int(bad, 0, "each onion has exactly one address, leading back to it");
	}
	/* A forked child sees the parent's answers through the same mapping. */
	{
		struct omx_srv_result r, got;
		pid_t pid;
		result(&r, 7000, 2, 600);
		omx_cache_put(&c, "fork.example", 100, &r);
		pid = fork();
		if (pid == 0)
			_exit(omx_cache_get(&c, "fork.example", 101, &got) == 1 ? 0 : 1);
		waitpid(pid, &status, 0);
		ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a forked child sees the cached answer");
	}
	omx_cache_close(&c);
}

static void test_damage(void)
{
	struct omx_cache c;
	struct omx_srv_result r, got;
	char path[256], err[512];
	int fd, bad = 0;
	struct stat st;
	char d[64];

	snprintf(path, sizeof(path), "%s/damaged", dir);
	omx_cache_open(&c, path, net, mask, 0, err, sizeof(err));
	for (unsigned i = 0; i < 500; i++) {
		snprintf(d, sizeof(d), "d%u.example", i);
		result(&r, 9000 + i, 2, 3600);
		omx_cache_put(&c, d, 100, &r);
	}
	omx_cache_close(&c);
	/* Scribble over everything past the header and lock. */
	fd = open(path, O_RDWR);
	fstat(fd, &st);
	srand(3);
	for (int k = 0; k < 200000; k++) {
		uint8_t byte = (uint8_t)rand();
		off_t at = 128 + rand() % (st.st_size - 128);
		if (pwrite(fd, &byte, 1, at) != 1)
			bad++;
	}
	close(fd);
	is_int(omx_cache_open(&c, path, net, mask, 0, err, sizeof(err)), 0, "damaged file still opens");
	for (unsigned i = 0; i < 500; i++) {
		snprintf(d, sizeof(d), "d%u.example", i);
		if (omx_cache_get(&c, d, 100, &got))
			for (int j = 0; j < got.n; j++)
				if (omx_onion_check(got.rec[j].onion, OMX_ONION_LABEL_LEN) != OMX_ONION_OK)
					bad++;
	}
	for (uint32_t k = 0; k < OMX_CACHE_ADDR_SLOTS; k++) {
		struct omx_target t;
		uint32_t addr = net + k / 254 * 256 + k % 254 + 1;
		if (omx_cache_addr_onion(&c, addr, &t) &&
		    omx_onion_check(t.onion, OMX_ONION_LABEL_LEN) != OMX_ONION_OK)
			bad++;
	}
	is_int(bad, 0, "damaged entries never yield an invalid onion");
	omx_cache_close(&c);
}


/* The bytes of DOMAIN's entry in the file at PATH, as a writer or a damaged
 * disk would leave them: the entry starts with the domain (254 bytes), status
 * and secure, then the expiry (int64 at +256) and the record count (uint32 at
 * +264), in this layout and the one before it. */
static int poke_entry(const char *path, const char *domain, size_t at, const void *val, size_t len)
{
	int fd = open(path, O_RDWR), rc = -1;
	struct stat st;
	char *p, *e;
	size_t dlen = strlen(domain) + 1;

	if (fd < 0 || fstat(fd, &st) != 0)
		return -1;
	p = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -1;
	e = memmem(p, st.st_size, domain, dlen);
	if (e) {
		memcpy(e + at, val, len);
		rc = 0;
	}
	munmap(p, st.st_size);
	return rc;
}

/* What a writer killed half way, or a damaged disk, leaves must not be used:
 * above all not an onion answer with no onion (the MTA would take the
 * clearnet MX), nor one that lasts for years. */
static void test_half_written(void)
{
	struct omx_cache c;
	struct omx_srv_result r, got;
	char path[256], err[512];
	time_t now = 4000000;
	uint32_t zero = 0;
	int64_t years = now + 10 * 365 * 86400LL;
	uint16_t port = 9999;

	snprintf(path, sizeof(path), "%s/half", dir);
	omx_cache_open(&c, path, net, mask, 0, err, sizeof(err));
	result(&r, 20000, 2, 3600);
	omx_cache_put(&c, "half.example", now, &r);
	omx_cache_put(&c, "years.example", now, &r);
	omx_cache_put(&c, "port.example", now, &r);
	is_int(omx_cache_get(&c, "half.example", now, &got), 1, "(control: the whole entry is a hit)");
	ok(poke_entry(path, "half.example", 264, &zero, sizeof(zero)) == 0,
	   "the record count zeroed, as a writer killed before it stored n leaves it");
	memset(&got, 0, sizeof(got));
	is_int(omx_cache_get(&c, "half.example", now, &got), 0,
	       "an onion entry with no records is not used (the lookup asks again)");
	ok(poke_entry(path, "years.example", 256, &years, sizeof(years)) == 0, "an expiry 10 years ahead");
	is_int(omx_cache_get(&c, "years.example", now, &got), 0,
	       "an entry lasting longer than any TTL may is not used");
	is_int(omx_cache_get(&c, "port.example", now, &got), 1, "(control: another whole entry)");
	ok(poke_entry(path, "port.example", 280 + 56 + 4, &port, sizeof(port)) == 0 ||
	   poke_entry(path, "port.example", 268 + 56 + 4, &port, sizeof(port)) == 0,
	   "a record's port changed on disk");
	memset(&got, 0, sizeof(got));
	ok(omx_cache_get(&c, "port.example", now, &got) == 0 || got.rec[0].port != 9999,
	   "a changed record is not used (the checksum)");
	{
		struct omx_srv_result u;

		memset(&u, 0, sizeof(u));
		u.status = OMX_SRV_UNUSABLE;
		u.ttl = 600;
		snprintf(u.detail, sizeof(u.detail), "reason-to-change");
		omx_cache_put(&c, "reason.example", now, &u);
		is_int(omx_cache_get(&c, "reason.example", now, &got), 1, "(control: an unusable verdict is a hit)");
		ok(poke_entry(path, "reason-to-change", 0, "REASON", 6) == 0, "its reason changed on disk");
		is_int(omx_cache_get(&c, "reason.example", now, &got), 0, "a changed reason is not used (the checksum)");
	}
	omx_cache_put(&c, "half.example", now, &r);
	is_int(omx_cache_get(&c, "half.example", now, &got), 1, "asked again and stored: a hit");
	is_int(got.n, 2, "with its records");
	omx_cache_close(&c);
}

/* One domain whose answers keep naming new onions (a hostile zone rotating
 * them at every TTL) holds at most OMX_CACHE_DOMAIN_ONIONS slots: past that
 * its new onions defer, and other domains are not affected. */
static void test_domain_quota(void)
{
	struct omx_cache c;
	struct omx_srv_result r, got;
	char path[256], err[512];
	time_t now = 7000000;
	int stored = 0, rc = 0;
	unsigned rounds = OMX_CACHE_DOMAIN_ONIONS / 8;

	snprintf(path, sizeof(path), "%s/quota", dir);
	omx_cache_open(&c, path, net, mask, 0, err, sizeof(err));
	for (unsigned k = 0; k < rounds; k++) {
		result(&r, 50000 + 8 * k, 8, 60);
		if (omx_cache_put(&c, "rotating.example", now + 60 * k, &r) == 0)
			stored++;
	}
	is_int(stored, (int)rounds, "(control: a domain's first %d onions, 8 per answer, all stored)",
	       OMX_CACHE_DOMAIN_ONIONS);
	result(&r, 50000 + 8 * rounds, 8, 60);
	rc = omx_cache_put(&c, "rotating.example", now + 60 * rounds, &r);
	is_int(rc, OMX_CACHE_QUOTA, "its next answer with new onions: refused (the caller defers)");
	result(&r, 50000 + 8 * (rounds - 1), 8, 60);
	is_int(omx_cache_put(&c, "rotating.example", now + 60 * rounds, &r), 0,
	       "an answer naming onions it already holds is still stored");
	result(&r, 59000, 8, 60);
	is_int(omx_cache_put(&c, "other.example", now, &r), 0, "another domain's new onions are stored");
	is_int(omx_cache_get(&c, "other.example", now, &got), 1, "and found");
	result(&r, 50000 + 8 * rounds, 8, 60);
	is_int(omx_cache_put(&c, "rotating.example", now + OMX_CACHE_ADDR_IDLE + 60 * rounds, &r), 0,
	       "once its old onions have idled for the reuse period, it may bring new ones");
	omx_cache_close(&c);
}

static int kill_at, steps_seen;
static char last_step[64];

static void kill_at_step(const char *step)
{
	snprintf(last_step, sizeof(last_step), "%s", step);
	if (++steps_seen == kill_at)
		raise(SIGKILL);
}

/* A writer killed at each step of an update, in turn: readers afterwards get
 * the whole old answer, the whole new one, or nothing (and ask again), never a
 * mix; and the lock it held is taken over. */
static void test_killed_writer(void)
{
	struct omx_cache c;
	struct omx_srv_result old, fresh, got;
	char path[256], err[512];
	time_t now = 5000000;
	int bad = 0, nothing = 0, whole = 0, deaths = 0, status;

	snprintf(path, sizeof(path), "%s/killed", dir);
	omx_cache_open(&c, path, net, mask, 0, err, sizeof(err));
	result(&old, 30000, 1, 3600);
	result(&fresh, 30100, 3, 3600);
	for (kill_at = 1; kill_at < 40; kill_at++) {
		pid_t pid;
		int pipefd[2];

		omx_cache_put(&c, "killed.example", now, &old);
		result(&fresh, 30100 + 10 * (unsigned)kill_at, 3, 3600); /* new onions: every step */
		if (pipe(pipefd) != 0)
			break;
		pid = fork();
		if (pid == 0) {
			steps_seen = 0;
			omx_cache_test_step = kill_at_step;
			omx_cache_put(&c, "killed.example", now, &fresh);
			_exit(0);
		}
		close(pipefd[1]);
		close(pipefd[0]);
		waitpid(pid, &status, 0);
		if (WIFEXITED(status))
			break; /* past the last step: the update completed */
		deaths++;
		memset(&got, 0, sizeof(got));
		switch (omx_cache_get(&c, "killed.example", now, &got)) {
		case 0:
			nothing++;
			break;
		case 1:
			if ((got.n == 1 && strcmp(got.rec[0].onion, old.rec[0].onion) == 0) ||
			    (got.n == 3 && strcmp(got.rec[2].onion, fresh.rec[2].onion) == 0 &&
			     got.rec[2].port == fresh.rec[2].port))
				whole++;
			else
				bad++;
			break;
		default:
			bad++; /* the lock of a dead holder must be taken over */
		}
	}
	printf("# writer killed at %d steps: %d left nothing usable, %d a whole answer\n", deaths,
	       nothing, whole);
	ok(deaths >= 13, "the writer was killed at each of its steps (%d)", deaths);
	is_int(bad, 0, "never a partial answer, never a stuck lock");
	ok(nothing > 0, "(control: some kills left the entry unpublished)");
	is_int(omx_cache_put(&c, "killed.example", now, &fresh), 0, "a later writer stores the answer");
	is_int(omx_cache_get(&c, "killed.example", now, &got), 1, "and it is read back");
	is_int(got.n, 3, "whole");
	omx_cache_close(&c);
}

/* The attack on main: onions ground (with the hash anyone could compute) onto
 * a victim onion's 64 probe slots, published by eight domains of 8 SRV records,
 * kept the victim from ever getting an address. With the file's secret in the
 * hash, the same grinding lands nowhere in particular. */
static void test_ground_slots(void)
{
	struct omx_cache c;
	struct omx_srv_result r;
	char path[256], err[512], victim[57], label[57];
	static char ground[OMX_CACHE_PROBES][57];
	uint32_t victim_slot[OMX_CACHE_PROBES], addr;
	int have = 0, rc;
	time_t now = 6000000;
	uint64_t h1, h2;

	onion(424242, victim);
	h1 = omx_label_hash(victim, 0);
	h2 = omx_label_hash(victim, OMX_LABEL_HASH_STEP) | 1;
	for (unsigned a = 0; a < OMX_CACHE_PROBES; a++)
		victim_slot[a] = (uint32_t)((h1 + a * h2) % OMX_CACHE_ADDR_SLOTS);
	/* One onion per victim slot, each landing there at its first probe. */
	for (unsigned i = 0; have < OMX_CACHE_PROBES && i < 4000000; i++) {
		uint32_t first;
		onion(7000000 + i, label);
		first = (uint32_t)(omx_label_hash(label, 0) % OMX_CACHE_ADDR_SLOTS);
		for (int a = 0; a < OMX_CACHE_PROBES; a++)
			if (victim_slot[a] == first && ground[a][0] == '\0') {
				memcpy(ground[a], label, sizeof(label));
				have++;
			}
	}
	is_int(have, OMX_CACHE_PROBES, "64 onions ground onto the victim's probe slots (unkeyed hash)");
	snprintf(path, sizeof(path), "%s/ground", dir);
	omx_cache_open(&c, path, net, mask, 0, err, sizeof(err));
	for (int d = 0; d < 8; d++) {
		char domain[64];
		memset(&r, 0, sizeof(r));
		r.status = OMX_SRV_ONION;
		r.ttl = 86400;
		r.n = 8;
		for (int i = 0; i < 8; i++) {
			memcpy(r.rec[i].onion, ground[d * 8 + i], 57);
			r.rec[i].port = 25;
		}
		snprintf(domain, sizeof(domain), "attack%d.example", d);
		omx_cache_put(&c, domain, now, &r);
	}
	memset(&r, 0, sizeof(r));
	r.status = OMX_SRV_ONION;
	r.ttl = 3600;
	r.n = 1;
	memcpy(r.rec[0].onion, victim, 57);
	r.rec[0].port = 25;
	rc = omx_cache_put(&c, "victim.example", now + 86400, &r);
	is_int(rc, 0, "the victim's domain is still stored the next day");
	is_int(omx_cache_onion_addr(&c, victim, 56, &addr), 1, "and the victim onion has an address");
	omx_cache_close(&c);
}

/* waitpid for PID, but SIGKILL it after LIMIT seconds: only a guard against a
 * test hanging (a child blocking every signal cannot rely on alarm()). */
static int wait_or_kill(pid_t pid, int limit)
{
	int status = 0;

	for (int tenths = 0; tenths < limit * 10; tenths++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		usleep(100000);
	}
	printf("# child %ld still running after %d s: killed\n", (long)pid, limit);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return status;
}

static void stop_here(const char *step)
{
	(void)step;
	omx_cache_test_step = NULL; /* once */
	raise(SIGSTOP);
}

/* Forks a process that stops (SIGSTOP) while holding C's lock, in the middle
 * of storing R for other.example; the caller sends it SIGCONT. */
static pid_t stop_holding_lock(struct omx_cache *c, const struct omx_srv_result *r)
{
	int status;
	pid_t holder = fork();

	if (holder == 0) {
		omx_cache_test_step = stop_here;
		omx_cache_put(c, "other.example", 100, r);
		_exit(0);
	}
	waitpid(holder, &status, WUNTRACED);
	ok(WIFSTOPPED(status), "a process stopped while holding the lock");
	return holder;
}

/* A holder stopped (not dead) with the lock: others defer within the deadline. */
static void test_stopped_holder(void)
{
	struct omx_cache c;
	struct omx_srv_result r, got;
	char path[256], err[512];
	int status;
	pid_t holder, waiter;

	snprintf(path, sizeof(path), "%s/stopped", dir);
	omx_cache_open(&c, path, net, mask, 0, err, sizeof(err));
	result(&r, 40000, 1, 3600);
	omx_cache_put(&c, "stopped.example", 100, &r);
	holder = stop_holding_lock(&c, &r);
	waiter = fork();
	if (waiter == 0) {
		struct omx_cache mine;
		uint32_t a;
		int rc;
		if (omx_cache_open(&mine, path, net, mask, 0, err, sizeof(err)) != 0)
			_exit(10);
		rc = omx_cache_get(&mine, "stopped.example", 101, &got);
		if (rc != OMX_CACHE_BUSY)
			_exit(11);
		if (omx_cache_put(&mine, "new.example", 101, &r) != OMX_CACHE_BUSY)
			_exit(12);
		if (omx_cache_onion_addr(&mine, r.rec[0].onion, 56, &a) != 0)
			_exit(13);
		_exit(0);
	}
	status = wait_or_kill(waiter, 30);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "another process's lookup, store and address lookup end and say busy (defer) (status %d)",
	   WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status));
	kill(holder, SIGCONT);
	waitpid(holder, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the holder, continued, finishes");
	is_int(omx_cache_get(&c, "stopped.example", 102, &got), 1, "then lookups work again");
	omx_cache_close(&c);
}

/* A cached negative answer (no SRV record, unusable) is read at every MX
 * lookup of an unmapped domain: it is answered without the lock (and so
 * without blocking signals: no system call), even while another process holds
 * the lock; an onion answer, which refreshes its addresses, still waits for it;
 * a damaged or expired negative entry is never answered from without it. */
static void test_negative_unlocked(void)
{
	struct omx_cache c;
	struct omx_srv_result r, none, got;
	char path[256], err[512];
	int status;
	pid_t holder, waiter;
	uint8_t unusable = OMX_SRV_UNUSABLE;

	snprintf(path, sizeof(path), "%s/negative", dir);
	omx_cache_open(&c, path, net, mask, 0, err, sizeof(err));
	memset(&none, 0, sizeof(none));
	none.status = OMX_SRV_NONE;
	none.ttl = 600;
	snprintf(none.detail, sizeof(none.detail), "no SRV record");
	omx_cache_put(&c, "none.example", 100, &none);
	omx_cache_put(&c, "damaged.example", 100, &none);
	omx_cache_put(&c, "expired.example", 100 - 600, &none); /* expires at 100 */
	result(&r, 41000, 1, 3600);
	omx_cache_put(&c, "onion.example", 100, &r);
	is_int(omx_cache_get(&c, "damaged.example", 101, &got), 1, "(control: the entry to damage is a hit)");
	ok(poke_entry(path, "damaged.example", 254, &unusable, 1) == 0,
	   "its status changed on disk (no SRV record -> unusable)");
	holder = stop_holding_lock(&c, &r);
	waiter = fork();
	if (waiter == 0) {
		struct omx_cache mine;

		if (omx_cache_open(&mine, path, net, mask, 0, err, sizeof(err)) != 0)
			_exit(10);
		memset(&got, 0, sizeof(got));
		if (omx_cache_get(&mine, "none.example", 101, &got) != 1)
			_exit(11);
		if (got.status != OMX_SRV_NONE || got.n != 0 || got.ttl != 599 ||
		    strcmp(got.detail, "no SRV record") != 0)
			_exit(12);
		if (omx_cache_get(&mine, "onion.example", 101, &got) != OMX_CACHE_BUSY)
			_exit(13);
		if (omx_cache_get(&mine, "damaged.example", 101, &got) != OMX_CACHE_BUSY)
			_exit(14);
		if (omx_cache_get(&mine, "expired.example", 101, &got) != OMX_CACHE_BUSY)
			_exit(15);
		if (omx_cache_get(&mine, "unknown.example", 101, &got) != OMX_CACHE_BUSY)
			_exit(16);
		_exit(0);
	}
	status = wait_or_kill(waiter, 60);
	is_int(WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status), 0,
	       "lock held elsewhere: the negative entry answered as stored; the onion, damaged, "
	       "expired and unknown entries wait for the lock and say busy (0: all as said; 11-12: "
	       "the negative entry not answered or wrong, 13-16 the others not busy)");
	kill(holder, SIGCONT);
	waitpid(holder, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the holder, continued, finishes");
	is_int(omx_cache_get(&c, "onion.example", 102, &got), 1, "(control: then the onion entry is a hit)");
	is_int(omx_cache_get(&c, "damaged.example", 102, &got), 0, "(control: the damaged one a miss)");
	omx_cache_close(&c);
}

static struct omx_cache *torn_reader;
static int torn_bad, torn_busy, torn_published;

/* At each step of a rewrite of torn.example's entry (this thread holds the
 * lock): a lookup through another handle must not answer from the half-written
 * entry; it falls back to the lock, which this thread holds: busy. */
static void read_torn(const char *step)
{
	struct omx_srv_result got;
	int rc;

	if (strncmp(step, "entry", 5) != 0)
		return;
	memset(&got, 0, sizeof(got));
	rc = omx_cache_get(torn_reader, "torn.example", 101, &got);
	if (strcmp(step, "entry published") == 0) {
		if (rc == 1 && got.status == OMX_SRV_UNUSABLE && strcmp(got.detail, "second") == 0)
			torn_published = 1;
	} else if (rc == OMX_CACHE_BUSY) {
		torn_busy++;
	} else {
		torn_bad++;
	}
}

static void test_negative_torn(void)
{
	struct omx_cache c, other;
	struct omx_srv_result r;
	char path[256], err[512];

	snprintf(path, sizeof(path), "%s/torn", dir);
	omx_cache_open(&c, path, net, mask, 0, err, sizeof(err));
	omx_cache_open(&other, path, net, mask, 0, err, sizeof(err));
	memset(&r, 0, sizeof(r));
	r.status = OMX_SRV_NONE;
	r.ttl = 600;
	snprintf(r.detail, sizeof(r.detail), "first");
	omx_cache_put(&c, "torn.example", 100, &r);
	r.status = OMX_SRV_UNUSABLE;
	snprintf(r.detail, sizeof(r.detail), "second");
	torn_reader = &other;
	omx_cache_test_step = read_torn;
	omx_cache_put(&c, "torn.example", 100, &r);
	omx_cache_test_step = NULL;
	is_int(torn_bad, 0, "a negative entry being rewritten is never answered from (nor called a miss)");
	is_int(torn_busy, 3, "at its cleared, named and summed steps the lookup falls back to the lock");
	is_int(torn_published, 1, "once published, the new answer is given while the writer still holds the lock");
	omx_cache_close(&other);
	omx_cache_close(&c);
}

static struct omx_cache *handler_cache;
static volatile sig_atomic_t handler_result = 99, raised;

static void lookup_in_handler(int sig)
{
	struct omx_srv_result got;

	(void)sig;
	handler_result = omx_cache_get(handler_cache, "handler.example", 101, &got);
}

static void raise_usr1(const char *step)
{
	(void)step;
	if (!raised) {
		raised = 1;
		raise(SIGUSR1);
	}
}

/* A lookup (or a connect() to a discovered address) from a signal handler that
 * interrupts this very thread while it holds the lock: it runs once the lock is
 * released, and nothing waits for itself. */
static void test_signal_handler(void)
{
	struct omx_cache c;
	struct omx_srv_result r;
	char path[256], err[512];
	int status;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/handler", dir);
	omx_cache_open(&c, path, net, mask, 0, err, sizeof(err));
	result(&r, 41000, 1, 3600);
	omx_cache_put(&c, "handler.example", 100, &r);
	pid = fork();
	if (pid == 0) {
		sigset_t before, after;
		handler_cache = &c;
		signal(SIGUSR1, lookup_in_handler);
		sigprocmask(SIG_SETMASK, NULL, &before);
		omx_cache_test_step = raise_usr1;
		omx_cache_put(&c, "writer.example", 100, &r);
		omx_cache_test_step = NULL;
		sigprocmask(SIG_SETMASK, NULL, &after);
		if (!raised)
			_exit(20);
		if (handler_result != 1)
			_exit(21); /* it ran while the lock was held */
		if (sigismember(&before, SIGUSR1) != sigismember(&after, SIGUSR1) ||
		    sigismember(&after, SIGTERM))
			_exit(22); /* the caller's mask not restored exactly */
		_exit(0);
	}
	status = wait_or_kill(pid, 30);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "a lookup from a handler interrupting the lock holder completes after it, with the cached answer (status %d)",
	   WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status));
	omx_cache_close(&c);
}

static const char *copy_from, *copy_to;

static void copy_file_here(const char *step)
{
	char cmd[700];

	(void)step;
	snprintf(cmd, sizeof(cmd), "cp %s %s", copy_from, copy_to);
	if (system(cmd) != 0)
		_exit(30);
	_exit(0); /* dies holding the lock; the copy keeps a lock of a thread gone */
}

/* A file copied while locked (a backup restored) names, as its lock's holder,
 * a thread the kernel never marks dead in the copy: taken over, not waited for. */
static void test_copied_locked(void)
{
	struct omx_cache c, copy;
	struct omx_srv_result r, got;
	char path[256], copied[256], err[512];
	int status;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/tocopy", dir);
	snprintf(copied, sizeof(copied), "%s/copied", dir);
	omx_cache_open(&c, path, net, mask, 0, err, sizeof(err));
	result(&r, 42000, 1, 3600);
	omx_cache_put(&c, "copied.example", 100, &r);
	copy_from = path;
	copy_to = copied;
	pid = fork();
	if (pid == 0) {
		omx_cache_test_step = copy_file_here;
		omx_cache_put(&c, "other.example", 100, &r);
		_exit(31);
	}
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the file was copied while locked");
	chmod(copied, 0600);
	pid = fork();
	if (pid == 0) {
		if (omx_cache_open(&copy, copied, net, mask, 0, err, sizeof(err)) != 0)
			_exit(32);
		if (omx_cache_get(&copy, "copied.example", 101, &got) != 1)
			_exit(33);
		if (omx_cache_put(&copy, "after.example", 101, &r) != 0)
			_exit(34);
		_exit(0);
	}
	status = wait_or_kill(pid, 30);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "the copy's lock is taken over: lookups and stores work (status %d)",
	   WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status));
	is_int(omx_cache_get(&c, "copied.example", 101, &got), 1,
	       "and the original, whose holder died, works too");
	omx_cache_close(&c);
}

/* Under RLIMIT_FSIZE (a user's "ulimit -f", inherited by a setuid program)
 * creating the file fails cleanly: the process is not killed by SIGXFSZ and
 * leaves no discovery.cache.new.PID behind. */
static void test_fsize_limit(void)
{
	char path[256], err[512], leftover[300];
	int status;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/limited", dir);
	pid = fork();
	if (pid == 0) {
		struct rlimit rl = {4096, 4096};
		struct omx_cache c;
		setrlimit(RLIMIT_FSIZE, &rl);
		if (omx_cache_open(&c, path, net, mask, 0, err, sizeof(err)) == 0)
			_exit(40);
		printf("# %s\n", err);
		fflush(stdout);
		_exit(strstr(err, path) ? 0 : 41);
	}
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "over the file size limit: an error naming the file, no SIGXFSZ (status %d)",
	   WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status));
	snprintf(leftover, sizeof(leftover), "%s.new.%ld", path, (long)pid);
	ok(access(leftover, F_OK) != 0 && access(path, F_OK) != 0, "and no file left behind");
	{
		struct omx_cache c;
		is_int(omx_cache_open(&c, path, net, mask, 0, err, sizeof(err)), 0,
		       "(control: without the limit, created)");
		omx_cache_close(&c);
	}
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	omx_parse_range(OMX_DEFAULT_DISCOVER_RANGE, &net, &mask);
	test_open();
	test_answers();
	test_addresses();
	test_full_and_reuse();
	test_processes();
	test_damage();
	test_half_written();
	test_killed_writer();
	test_ground_slots();
	test_domain_quota();
	test_stopped_holder();
	test_negative_unlocked();
	test_negative_torn();
	test_signal_handler();
	test_copied_locked();
	test_fsize_limit();
	{
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", dir);
	}
	return done_testing();
}
