// node.js resolve|lookup NAME TYPE: Node's dns.Resolver (c-ares, its own
// sockets; one try, two seconds) or dns.lookup (getaddrinfo). Prints
// "answer TYPE DATA" per record and "rcode NOERROR", or "error CODE".
const dns = require('dns');
const [mode, name, type] = process.argv.slice(2);
const done = (err, recs) => {
	if (err) { console.log('error ' + err.code); return; }
	console.log('rcode NOERROR');
	for (const r of recs) {
		if (type === 'MX') console.log('answer MX ' + r.priority + ' ' + r.exchange + '.');
		else console.log('answer ' + type + ' ' + (r.address || r));
	}
};
if (mode === 'lookup') {
	dns.lookup(name, { family: type === 'AAAA' ? 6 : 4, all: true }, done);
} else {
	const res = new dns.Resolver({ timeout: 2000, tries: 1 });
	res.setServers(['127.0.0.1']);
	res.resolve(name, type, done);
}
