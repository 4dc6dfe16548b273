// golookup: Go's own resolver and dialer, for tests/integ/hostwide.sh. Built at
// test time with CGO_ENABLED=0 and run with GODEBUG=netdns=go: a static binary
// whose DNS and connect are raw system calls, out of LD_PRELOAD's reach.
//
//	golookup mx NAME        net.LookupMX: "MX PREF HOST" lines
//	golookup host NAME      net.LookupHost: one address a line
//	golookup dial ADDR:PORT net.Dial over TCP: "dial: connected" or the errno
//
// Errors print "error: ..." and exit 1.
package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: golookup mx|host|dial ARG")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "mx":
		mxs, err := net.LookupMX(os.Args[2])
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		for _, mx := range mxs {
			fmt.Printf("MX %d %s\n", mx.Pref, mx.Host)
		}
	case "host":
		addrs, err := net.LookupHost(os.Args[2])
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		for _, a := range addrs {
			fmt.Println(a)
		}
	case "dial":
		c, err := net.DialTimeout("tcp", os.Args[2], 30*time.Second)
		switch {
		case err == nil:
			fmt.Println("dial: connected")
			c.Close()
		case errors.Is(err, syscall.EHOSTUNREACH):
			fmt.Println("dial: EHOSTUNREACH")
		case errors.Is(err, syscall.ENETUNREACH):
			fmt.Println("dial: ENETUNREACH")
		default:
			fmt.Println("error:", err)
			os.Exit(1)
		}
	default:
		fmt.Fprintln(os.Stderr, "usage: golookup mx|host|dial ARG")
		os.Exit(2)
	}
}
