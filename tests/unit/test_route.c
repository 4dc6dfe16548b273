/* route.c, the routing decision map -> SRV discovery -> MX, with a real
 * compiled map, an anonymous discovery cache and a scripted resolver on a
 * host (host.h): every outcome, the order of the steps, the cache's use. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "config.h"
#include "host.h"
#include "map.h"
#include "ed25519.h"
#include "onion.h"
#include "route.h"
#include "sha3.h"
#include "tap.h"
#include "dns_pkt.h"

static char o[4][OMX_ONION_LABEL_LEN + 1];

static void onion(unsigned i, char out[OMX_ONION_LABEL_LEN + 1])
{
	char in[64];
	uint8_t hash[32], key[32];

	snprintf(in, sizeof(in), "route-test/%u", i);
	omx_sha3_256(in, strlen(in), hash);
	omx_ed25519_base_mult(hash, key); /* a key Tor accepts, as onionmx-map wants */
	omx_onion_from_pubkey(key, out);
}

/* --- the scripted resolver --- */

static void header(struct pkt *p, const char *qname, unsigned rcode, unsigned an, unsigned ns)
{
	p->len = 0;
	put16(p, 0x1234);
	put16(p, 0x8180 | rcode);
	put16(p, 1);
	put16(p, an);
	put16(p, ns);
	put16(p, 0);
	put_name(p, qname);
	put16(p, 33);
	put16(p, 1);
}

static void srv_rr(struct pkt *p, unsigned prio, unsigned port, const char *target)
{
	size_t at;

	put16(p, 0xc00c);
	put16(p, 33);
	put16(p, 1);
	put16(p, 0);
	put16(p, 300);
	at = p->len;
	put16(p, 0);
	put16(p, prio);
	put16(p, 0);
	put16(p, port);
	put_name(p, target);
	p->b[at] = (uint8_t)((p->len - at - 2) >> 8);
	p->b[at + 1] = (uint8_t)(p->len - at - 2);
}

static void soa_rr(struct pkt *p)
{
	put_name(p, "example");
	put16(p, 6);
	put16(p, 1);
	put16(p, 0);
	put16(p, 300);
	put16(p, 2 + 2 + 20);
	put_name(p, "a");
	put_name(p, "b");
	for (int i = 0; i < 10; i++)
		put16(p, i == 9 ? 60 : 0);
}

static int queries, rotation;
static char last_query[256];

static int fake_nquery(res_state statp, const char *name, int cls, int type, unsigned char *answer,
		       int anslen)
{
	struct pkt p;
	char target[80];

	(void)statp, (void)cls, (void)type;
	queries++;
	snprintf(last_query, sizeof(last_query), "%s", name);
	if (strcmp(name, "_onion-mx._tcp.srv.example") == 0) {
		header(&p, name, 0, 2, 0);
		snprintf(target, sizeof(target), "%s.onion", o[2]);
		srv_rr(&p, 20, 2525, target);
		snprintf(target, sizeof(target), "%s.onion", o[3]);
		srv_rr(&p, 10, 25, target);
	} else if (strcmp(name, "_onion-mx._tcp.rotate.example") == 0) {
		char label[OMX_ONION_LABEL_LEN + 1];

		header(&p, name, 0, 1, 0); /* a new onion at every lookup */
		onion(100 + (unsigned)rotation++, label);
		snprintf(target, sizeof(target), "%s.onion", label);
		srv_rr(&p, 10, 25, target);
	} else if (strcmp(name, "_onion-mx._tcp.unusable.example") == 0) {
		header(&p, name, 0, 1, 0);
		srv_rr(&p, 10, 25, "mx.unusable.example");
	} else if (strcmp(name, "_onion-mx._tcp.none.example") == 0) {
		header(&p, name, 3, 0, 1);
		soa_rr(&p);
		memcpy(answer, p.b, p.len);
		return -1;
	} else {
		return -1; /* no reply at all: a timeout */
	}
	if ((int)p.len > anslen)
		return -1;
	memcpy(answer, p.b, p.len);
	return (int)p.len;
}

static int logged;

static void count_log(int prio, const char *fmt, ...)
{
	(void)prio, (void)fmt;
	logged++;
}

static uint32_t zero_random(void *ctx)
{
	(void)ctx;
	return 0;
}

/* --- the decision --- */

static struct omx_host host;
static struct omx_config cfg;
static struct omx_cache cache;
static struct __res_state res;

static time_t wall = 1000000;

static void decide(const struct omx_map *map, struct omx_cache *c, int broken, const char *domain,
		   struct omx_route *rt)
{
	struct omx_route_env env = { .host = &host, .map = map, .cfg = &cfg, .cache = c,
				     .discovery_broken = broken, .statp = &res, .now = wall };

	omx_route_decide(&env, domain, rt);
}

static void test_map_step(const struct omx_map *map)
{
	struct omx_route rt;

	queries = 0;
	cfg.discover = 1;
	decide(NULL, &cache, 0, "mapped.example", &rt);
	ok(rt.kind == OMX_ROUTE_DEFER && rt.why == OMX_WHY_NO_CONFIG, "no usable configuration: defer");

	decide(map, &cache, 0, "mapped.example", &rt);
	ok(rt.kind == OMX_ROUTE_MAP && rt.why == OMX_WHY_FOUND, "mapped domain: the map's route");
	is_int(rt.n, 2, "mapped domain: its two onions");
	ok(strcmp(rt.targets[0].onion, o[0]) == 0 && rt.targets[0].port == 0 &&
	   strcmp(rt.targets[1].onion, o[1]) == 0 && rt.targets[1].port == 2525,
	   "mapped domain: onions and ports in the map's order");
	is_str(rt.matched, "mapped.example", "mapped domain: the entry that matched");
	ok(!rt.srv_asked, "mapped domain: discovery not consulted");

	decide(map, &cache, 0, "a.sub.example", &rt);
	ok(rt.kind == OMX_ROUTE_MAP && rt.n == 1 && strcmp(rt.targets[0].onion, o[2]) == 0,
	   "subdomain of a .parent entry: the map's route");
	is_str(rt.matched, ".sub.example", "subdomain: the .parent entry matched");
	is_int(queries, 0, "map step: no DNS query");
}

static void test_discovery_step(const struct omx_map *map)
{
	struct omx_route rt;

	cfg.discover = 0;
	queries = 0;
	decide(map, &cache, 0, "srv.example", &rt);
	ok(rt.kind == OMX_ROUTE_MX && rt.why == OMX_WHY_DISCOVERY_OFF, "discovery off: the MX decides");
	is_int(queries, 0, "discovery off: no SRV query");

	cfg.discover = 1;
	decide(map, &cache, 0, "srv.example", &rt);
	ok(rt.kind == OMX_ROUTE_SRV && rt.why == OMX_WHY_FOUND, "SRV records naming onions: the SRV route");
	is_str(last_query, "_onion-mx._tcp.srv.example", "the SRV question asked");
	ok(rt.srv_asked && !rt.srv_cached, "first time: looked up, not cached");
	ok(rt.n == 2 && strcmp(rt.targets[0].onion, o[3]) == 0 && rt.targets[0].port == 25 &&
	   strcmp(rt.targets[1].onion, o[2]) == 0 && rt.targets[1].port == 2525,
	   "SRV route: priority 10 before 20, with the SRV ports");
	decide(map, &cache, 0, "srv.example", &rt);
	ok(rt.kind == OMX_ROUTE_SRV && rt.srv_cached, "second time: from the shared cache");
	is_int(queries, 1, "second time: no query");
	{
		uint32_t addr;
		ok(omx_cache_onion_addr(&cache, o[3], OMX_ONION_LABEL_LEN, &addr) == 1,
		   "the discovered onion has an address in the shared cache (what connect() reads)");
	}

	decide(map, NULL, 0, "srv.example", &rt);
	ok(rt.kind == OMX_ROUTE_SRV && !rt.srv_cached && queries == 2, "no cache: asked again");

	decide(map, &cache, 0, "none.example", &rt);
	ok(rt.kind == OMX_ROUTE_MX && rt.why == OMX_WHY_NO_SRV, "no SRV record (NXDOMAIN): the MX decides");
	decide(map, &cache, 0, "unusable.example", &rt);
	ok(rt.kind == OMX_ROUTE_MX && rt.why == OMX_WHY_SRV_UNUSABLE, "SRV without an onion: the MX decides");

	logged = 0;
	cfg.srv_failure_mx = 0;
	decide(map, &cache, 0, "fail.example", &rt);
	ok(rt.kind == OMX_ROUTE_DEFER && rt.why == OMX_WHY_SRV_FAILED, "SRV lookup failed: defer");
	ok(logged > 0, "SRV lookup failed: logged");
	cfg.srv_failure_mx = 1;
	decide(map, &cache, 0, "fail2.example", &rt);
	ok(rt.kind == OMX_ROUTE_MX && rt.why == OMX_WHY_SRV_FAILED, "SRV lookup failed, srv_failure = mx: the MX");
	cfg.srv_failure_mx = 0;

	queries = 0;
	decide(map, &cache, 1, "other.example", &rt);
	ok(rt.kind == OMX_ROUTE_DEFER && rt.why == OMX_WHY_DISCOVERY_BROKEN, "discovery cannot run: defer");
	is_int(queries, 0, "discovery cannot run: no query");
	cfg.srv_failure_mx = 1;
	decide(map, &cache, 1, "other.example", &rt);
	ok(rt.kind == OMX_ROUTE_MX && rt.why == OMX_WHY_DISCOVERY_BROKEN,
	   "discovery cannot run, srv_failure = mx: the MX");
	cfg.srv_failure_mx = 0;

	/* The map comes first, even for a domain that also publishes SRV. */
	decide(map, &cache, 0, "mapped.example", &rt);
	ok(rt.kind == OMX_ROUTE_MAP, "a mapped domain never reaches discovery");

	/* The library's entry point: discovery alone. */
	{
		struct omx_route_env env = { .host = &host, .map = map, .cfg = &cfg, .cache = &cache,
					     .statp = &res, .now = 1000000 };
		omx_route_discover(&env, "srv.example", &rt);
		ok(rt.kind == OMX_ROUTE_SRV && rt.srv_cached && rt.matched[0] == '\0',
		   "omx_route_discover: the discovery step alone");
	}
}

/* A zone that hands out a new onion at every lookup fills its share of the
 * cache's addresses: then the lookup defers (or, with srv_failure = mx, the
 * MX decides), never an answer without an address for the onion. */
static void test_cache_quota(const struct omx_map *map)
{
	struct omx_route rt;
	int n, quota_at = 0;

	cfg.discover = 1;
	for (n = 0; n < OMX_CACHE_DOMAIN_ONIONS + 5 && !quota_at; n++) {
		wall += 400; /* past the 300 s TTL: asked again */
		decide(map, &cache, 0, "rotate.example", &rt);
		if (rt.kind != OMX_ROUTE_SRV)
			quota_at = n + 1;
	}
	is_int(quota_at, OMX_CACHE_DOMAIN_ONIONS + 1, "a rotating zone: %d onions routed, then", OMX_CACHE_DOMAIN_ONIONS);
	ok(rt.kind == OMX_ROUTE_DEFER && rt.why == OMX_WHY_CACHE_QUOTA, "the next lookup defers (cache quota)");
	cfg.srv_failure_mx = 1;
	wall += 400;
	decide(map, &cache, 0, "rotate.example", &rt);
	ok(rt.kind == OMX_ROUTE_MX && rt.why == OMX_WHY_CACHE_QUOTA, "cache quota, srv_failure = mx: the MX decides");
	cfg.srv_failure_mx = 0;
}

/* A map with one byte of example's entry changed fails its checks. */
static void test_damaged(const char *dir, const struct omx_map *map)
{
	struct omx_map dmg;
	struct cdb c = map->cdb;
	char bad[300], err[512];
	size_t n = (size_t)map->cdb.cdb_fsize;
	unsigned char *copy = malloc(n);
	struct omx_route rt;
	int fd;

	snprintf(bad, sizeof(bad), "%s/bad.cdb", dir);
	if (!copy || cdb_find(&c, "d:mapped.example", 16) <= 0) {
		ok(0, "find the entry to damage");
		free(copy);
		return;
	}
	memcpy(copy, map->cdb.cdb_mem, n);
	copy[cdb_datapos(&c) + 3] ^= 1;
	fd = open(bad, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0 && write(fd, copy, n) == (ssize_t)n && close(fd) == 0 &&
	    (fd = open(bad, O_RDONLY)) >= 0 && omx_map_open_fd(&dmg, fd, bad, err, sizeof(err)) == 0) {
		close(fd);
		queries = 0;
		decide(&dmg, &cache, 0, "mapped.example", &rt);
		ok(rt.kind == OMX_ROUTE_DEFER && rt.why == OMX_WHY_MAP_DAMAGED, "damaged map entry: defer");
		is_int(queries, 0, "damaged map: no SRV query, no MX");
		omx_map_close(&dmg);
	} else {
		ok(0, "write and open the damaged map: %s", err);
	}
	unlink(bad);
	free(copy);
}

int main(void)
{
	char dir[] = "/tmp/test_route.XXXXXX", src[300], out[300], err[512], text[1024];
	size_t nd = 0, no = 0;
	struct omx_map map;
	uint32_t net, mask;
	int fd, have_map = 0;
	FILE *f;

	for (unsigned i = 0; i < 4; i++)
		onion(i, o[i]);
	host = omx_libc_host;
	host.res_nquery = fake_nquery;
	host.log = count_log;
	host.random = zero_random;
	omx_config_defaults(&cfg);
	/* The routing outcomes; what prefer adds for MTA-STS and DANE is test_policy's. */
	cfg.srv_dnssec = OMX_DNSSEC_OFF;
	memset(&res, 0, sizeof(res));
	if (!mkdtemp(dir))
		return ok(0, "mkdtemp"), done_testing();
	snprintf(src, sizeof(src), "%s/map.src", dir);
	snprintf(out, sizeof(out), "%s/map.cdb", dir);
	snprintf(text, sizeof(text), "mapped.example %s.onion %s.onion:2525\n.sub.example %s.onion\n", o[0],
		 o[1], o[2]);
	f = fopen(src, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	if (ok(omx_map_compile(src, out, OMX_DEFAULT_RANGE, &nd, &no, err, sizeof(err)) == 0, "compile the map") &&
	    (fd = open(out, O_RDONLY)) >= 0) {
		have_map = omx_map_open_fd(&map, fd, out, err, sizeof(err)) == 0;
		close(fd);
	}
	if (!ok(have_map, "open the map") ||
	    !ok(omx_parse_range(cfg.discover_range, &net, &mask) == 0 &&
		omx_cache_open_anonymous(&cache, net, mask, err, sizeof(err)) == 0, "open an anonymous cache"))
		return done_testing();
	test_map_step(&map);
	test_discovery_step(&map);
	test_damaged(dir, &map);
	test_cache_quota(&map);
	omx_map_close(&map);
	omx_cache_close(&cache);
	unlink(src);
	unlink(out);
	rmdir(dir);
	return done_testing();
}
