// lookup NAME TYPE: Go's net.Resolver (GODEBUG=netdns=go or cgo picks the
// resolver), three seconds at most. Prints "answer TYPE DATA" per record and
// "rcode NOERROR", or "error TEXT".
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	name, typ := os.Args[1], os.Args[2]
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	r := net.DefaultResolver
	if typ == "MX" {
		mxs, err := r.LookupMX(ctx, name)
		if err != nil {
			fmt.Println("error", err)
			return
		}
		fmt.Println("rcode NOERROR")
		for _, mx := range mxs {
			fmt.Printf("answer MX %d %s\n", mx.Pref, mx.Host)
		}
		return
	}
	network := "ip4"
	if typ == "AAAA" {
		network = "ip6"
	}
	ips, err := r.LookupIP(ctx, network, name)
	if err != nil {
		fmt.Println("error", err)
		return
	}
	fmt.Println("rcode NOERROR")
	for _, ip := range ips {
		fmt.Printf("answer %s %s\n", typ, ip)
	}
}
