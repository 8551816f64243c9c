// cnigo: a cnitool-compatible front end to Go's libcni (Debian's
// golang-github-appc-cni-dev, v1.1.2), used by cnilib's interoperability
// tests and benchmarks.
//
//	cnigo add|check|del NETWORK NETNS
//	cnigo bench COUNT CONCURRENCY NETWORK NETNS...
//
// add/check/del follow cnitool v1.1.x exactly:
//   - NETCONFPATH: configuration directory (default /etc/cni/net.d), the network is
//     looked up with libcni.LoadConfList (a .conflist by name, else a .conf/.json);
//   - CNI_PATH: plugin directories (filepath.SplitList);
//   - CNI_IFNAME: interface name, "eth0" when unset (an empty value is kept);
//   - CNI_ARGS: "K=V;K2=V2", a pair with an empty key or value is an error;
//   - CAP_ARGS: JSON object of capability arguments;
//   - container id "cnitool-" + hex(sha512(abs(NETNS))[:10]);
//   - add prints the result with json.MarshalIndent(result, "", "    ") and no
//     trailing newline (also when the ADD failed but returned a result);
//   - errors: "<error>\n" on stderr, exit status 1; fewer than 3 arguments
//     print the usage on stderr and exit 1; an unknown command exits 0 silently
//     after loading the configuration (like cnitool).
//
// Extensions (not in cnitool):
//   - CNI_CACHE_DIR: libcni cache directory (NewCNIConfigWithCacheDir);
//   - CNI_CONTAINERID: overrides the derived container id;
//   - bench: COUNT containers "bench-0".."bench-<COUNT-1>" (prefix overridable
//     with CNI_CONTAINERID), each with its own NETNS argument (or one NETNS
//     shared by all); ADD all, then DEL all, with CONCURRENCY goroutines; prints
//     {"add_seconds": X, "del_seconds": Y, "count": N, "concurrency": C}.
package main

import (
	"context"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containernetworking/cni/libcni"
)

const defaultNetDir = "/etc/cni/net.d"

func usage() {
	exe := filepath.Base(os.Args[0])
	fmt.Fprintf(os.Stderr, "%s: Add, check, or remove network interfaces from a network namespace\n", exe)
	fmt.Fprintf(os.Stderr, "  %s add   <net> <netns>\n", exe)
	fmt.Fprintf(os.Stderr, "  %s check <net> <netns>\n", exe)
	fmt.Fprintf(os.Stderr, "  %s del   <net> <netns>\n", exe)
	fmt.Fprintf(os.Stderr, "  %s bench <count> <concurrency> <net> <netns>...\n", exe)
	os.Exit(1)
}

func exit(err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// parseCNIArgs splits "K=V;K2=V2" the way cnitool does.
func parseCNIArgs(s string) ([][2]string, error) {
	var out [][2]string
	for _, pair := range strings.Split(s, ";") {
		kv := strings.Split(pair, "=")
		if len(kv) != 2 || kv[0] == "" || kv[1] == "" {
			return nil, fmt.Errorf("invalid CNI_ARGS pair %q", pair)
		}
		out = append(out, [2]string{kv[0], kv[1]})
	}
	return out, nil
}

// common holds what every command derives from the environment.
type common struct {
	list    *libcni.NetworkConfigList
	cni     *libcni.CNIConfig
	capArgs map[string]interface{}
	cniArgs [][2]string
	ifName  string
}

func loadCommon(network string) (*common, error) {
	netdir := os.Getenv("NETCONFPATH")
	if netdir == "" {
		netdir = defaultNetDir
	}
	list, err := libcni.LoadConfList(netdir, network)
	if err != nil {
		return nil, err
	}
	c := &common{list: list}
	if v := os.Getenv("CAP_ARGS"); len(v) > 0 {
		if err := json.Unmarshal([]byte(v), &c.capArgs); err != nil {
			return nil, err
		}
	}
	if v := os.Getenv("CNI_ARGS"); len(v) > 0 {
		if c.cniArgs, err = parseCNIArgs(v); err != nil {
			return nil, err
		}
	}
	ifName, ok := os.LookupEnv("CNI_IFNAME")
	if !ok {
		ifName = "eth0"
	}
	c.ifName = ifName
	paths := filepath.SplitList(os.Getenv("CNI_PATH"))
	c.cni = libcni.NewCNIConfigWithCacheDir(paths, os.Getenv("CNI_CACHE_DIR"), nil)
	return c, nil
}

func (c *common) runtimeConf(containerID, netns string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{
		ContainerID:    containerID,
		NetNS:          netns,
		IfName:         c.ifName,
		Args:           c.cniArgs,
		CapabilityArgs: c.capArgs,
	}
}

func containerIDFor(absNetns string) string {
	sum := sha512.Sum512([]byte(absNetns))
	return "cnitool-" + hex.EncodeToString(sum[:10])
}

func runOne(verb, network, netnsArg string) {
	c, err := loadCommon(network)
	if err != nil {
		exit(err)
	}
	netns, err := filepath.Abs(netnsArg)
	if err != nil {
		exit(err)
	}
	containerID := containerIDFor(netns)
	if v := os.Getenv("CNI_CONTAINERID"); v != "" {
		containerID = v
	}
	rt := c.runtimeConf(containerID, netns)
	ctx := context.TODO()
	switch verb {
	case "add":
		result, err := c.cni.AddNetworkList(ctx, c.list, rt)
		if result != nil {
			_ = result.Print()
		}
		exit(err)
	case "check":
		exit(c.cni.CheckNetworkList(ctx, c.list, rt))
	case "del":
		exit(c.cni.DelNetworkList(ctx, c.list, rt))
	}
	// cnitool silently succeeds on an unknown command.
	exit(nil)
}

// forEach runs fn(i) for i in [0,n) on `workers` goroutines; returns the first error.
func forEach(n, workers int, fn func(i int) error) error {
	jobs := make(chan int)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return first
}

func bench(args []string) error {
	if len(args) < 4 {
		usage()
	}
	count, err := strconv.Atoi(args[0])
	if err != nil || count < 1 {
		return fmt.Errorf("invalid COUNT %q", args[0])
	}
	workers, err := strconv.Atoi(args[1])
	if err != nil || workers < 1 {
		return fmt.Errorf("invalid CONCURRENCY %q", args[1])
	}
	c, err := loadCommon(args[2])
	if err != nil {
		return err
	}
	netnsArgs := args[3:]
	if len(netnsArgs) != 1 && len(netnsArgs) != count {
		return fmt.Errorf("need 1 or %d netns paths, got %d", count, len(netnsArgs))
	}
	prefix := os.Getenv("CNI_CONTAINERID")
	if prefix == "" {
		prefix = "bench"
	}
	rts := make([]*libcni.RuntimeConf, count)
	for i := range rts {
		ns := netnsArgs[0]
		if len(netnsArgs) > 1 {
			ns = netnsArgs[i]
		}
		if ns, err = filepath.Abs(ns); err != nil {
			return err
		}
		rts[i] = c.runtimeConf(fmt.Sprintf("%s-%d", prefix, i), ns)
	}
	ctx := context.Background()

	start := time.Now()
	addErr := forEach(count, workers, func(i int) error {
		_, err := c.cni.AddNetworkList(ctx, c.list, rts[i])
		if err != nil {
			return fmt.Errorf("ADD %s: %w", rts[i].ContainerID, err)
		}
		return nil
	})
	addSeconds := time.Since(start).Seconds()

	// DEL everything even after a failed ADD, so nothing is left behind.
	start = time.Now()
	delErr := forEach(count, workers, func(i int) error {
		if err := c.cni.DelNetworkList(ctx, c.list, rts[i]); err != nil {
			return fmt.Errorf("DEL %s: %w", rts[i].ContainerID, err)
		}
		return nil
	})
	delSeconds := time.Since(start).Seconds()
	if addErr != nil {
		if delErr != nil {
			return fmt.Errorf("%v; %v", addErr, delErr)
		}
		return addErr
	}
	if delErr != nil {
		return delErr
	}
	out, err := json.Marshal(map[string]interface{}{
		"add_seconds": addSeconds,
		"del_seconds": delSeconds,
		"count":       count,
		"concurrency": workers,
	})
	if err != nil {
		return err
	}
	fmt.Println(string(out))
	return nil
}

func main() {
	if len(os.Args) >= 2 && os.Args[1] == "bench" {
		exit(bench(os.Args[2:]))
	}
	if len(os.Args) < 4 {
		usage()
	}
	runOne(os.Args[1], os.Args[2], os.Args[3])
}
