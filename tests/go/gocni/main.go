// gocni: containerd's go-cni (Debian's golang-github-containerd-go-cni-dev, v1.1.7) driven from
// the command line, so cnilib.Networks can be compared with it side by side.
//
//	gocni config CONFDIR PLUGINDIR          what go-cni loaded, and its Status()
//	gocni setup CONFDIR PLUGINDIR ID NETNS  Setup(): the merged result
//
// Environment: GOCNI_LO=1 adds go-cni's loopback network first (WithLoNetwork), GOCNI_MAX is
// WithPluginMaxConfNum (0: every file, WithAllConf), GOCNI_MIN is WithMinNetworkCount,
// GOCNI_PREFIX is WithInterfacePrefix. Output is one JSON object on stdout.
//
// go-cni gives libcni no cache directory: run it where /var/lib/cni is private to it.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	gocni "github.com/containerd/go-cni"
)

type iface struct {
	IPs      []string `json:"ips"`
	Gateways []string `json:"gateways"`
	Mac      string   `json:"mac"`
	Sandbox  string   `json:"sandbox"`
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func envInt(name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		fail(err)
	}
	return n
}

func main() {
	if len(os.Args) < 4 {
		fail(fmt.Errorf("usage: gocni config|setup CONFDIR PLUGINDIR [ID NETNS]"))
	}
	opts := []gocni.Opt{
		gocni.WithPluginConfDir(os.Args[2]),
		gocni.WithPluginDir([]string{os.Args[3]}),
		gocni.WithMinNetworkCount(envInt("GOCNI_MIN", 1)),
		gocni.WithPluginMaxConfNum(envInt("GOCNI_MAX", 0)),
	}
	if p := os.Getenv("GOCNI_PREFIX"); p != "" {
		opts = append(opts, gocni.WithInterfacePrefix(p))
	}
	c, err := gocni.New(opts...)
	if err != nil {
		fail(err)
	}
	var load []gocni.Opt
	if os.Getenv("GOCNI_LO") == "1" {
		load = append(load, gocni.WithLoNetwork)
	}
	if envInt("GOCNI_MAX", 0) == 0 {
		load = append(load, gocni.WithAllConf)
	} else {
		load = append(load, gocni.WithDefaultConf)
	}
	loadErr := c.Load(load...)
	out := map[string]interface{}{}
	switch os.Args[1] {
	case "config":
		var nets [][2]string
		for _, n := range c.GetConfig().Networks {
			nets = append(nets, [2]string{n.IFName, n.Config.Name})
		}
		out["networks"] = nets
		out["load_error"] = errString(loadErr)
		out["status_error"] = errString(c.Status())
	case "setup":
		if loadErr != nil {
			fail(loadErr)
		}
		res, err := c.Setup(context.Background(), os.Args[4], os.Args[5])
		if err != nil {
			fail(err)
		}
		ifaces := map[string]iface{}
		for name, cfg := range res.Interfaces {
			i := iface{IPs: []string{}, Gateways: []string{}, Mac: cfg.Mac, Sandbox: cfg.Sandbox}
			for _, ip := range cfg.IPConfigs {
				i.IPs = append(i.IPs, ip.IP.String())
				if ip.Gateway != nil {
					i.Gateways = append(i.Gateways, ip.Gateway.String())
				}
			}
			ifaces[name] = i
		}
		out["interfaces"] = ifaces
		var routes []string
		for _, r := range res.Routes {
			routes = append(routes, r.Dst.String())
		}
		out["routes"] = routes
		var servers []string
		for _, d := range res.DNS {
			servers = append(servers, d.Nameservers...)
		}
		out["nameservers"] = servers
	default:
		fail(fmt.Errorf("unknown command %q", os.Args[1]))
	}
	data, err := json.Marshal(out)
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(data)
}

func errString(err error) interface{} {
	if err == nil {
		return nil
	}
	return err.Error()
}
