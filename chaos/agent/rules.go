package agent

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/sluice-cd/sluice/chaos"
)

// tableName is the nftables table (family inet) holding a pod's fault; the
// pod's own rules, if any, are left alone.
const tableName = "sluice_chaos"

// applyRules replaces the fault table in the network namespace fd with
// the rules spec asks for, in one transaction:
//
//	loss:      output: numgen random mod 100 < LOSS drop
//	partition: input: ip saddr PEER drop; output: ip daddr PEER drop
//	           (no peers: everything but loopback dropped both ways)
func applyRules(fd int, s chaos.NetworkSpec) error {
	c, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		return err
	}
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: tableName}
	// adding then deleting in the same batch drops any earlier version
	// without failing when there is none
	c.AddTable(t)
	c.DelTable(t)
	t = c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: tableName})
	chain := func(name string, hook *nftables.ChainHook) *nftables.Chain {
		return c.AddChain(&nftables.Chain{Name: name, Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: hook, Priority: nftables.ChainPriorityRef(-10)})
	}
	in, out := chain("input", nftables.ChainHookInput), chain("output", nftables.ChainHookOutput)
	drop := &expr.Verdict{Kind: expr.VerdictDrop}
	if s.Loss > 0 {
		c.AddRule(&nftables.Rule{Table: t, Chain: out, Exprs: []expr.Any{
			&expr.Numgen{Register: 1, Modulus: 100, Type: unix.NFT_NG_RANDOM},
			// numgen writes host order; compare in network order
			&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
			&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: binaryutil.BigEndian.PutUint32(uint32(s.Loss))},
			drop,
		}})
	}
	if s.Partition && len(s.Peers) == 0 {
		for _, r := range []struct {
			ch  *nftables.Chain
			key expr.MetaKey
		}{{in, expr.MetaKeyIIFNAME}, {out, expr.MetaKeyOIFNAME}} {
			c.AddRule(&nftables.Rule{Table: t, Chain: r.ch, Exprs: []expr.Any{
				&expr.Meta{Key: r.key, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname("lo")},
				&expr.Verdict{Kind: expr.VerdictAccept},
			}})
			c.AddRule(&nftables.Rule{Table: t, Chain: r.ch, Exprs: []expr.Any{drop}})
		}
	}
	for _, p := range s.Peers {
		n, err := ipv4Net(p)
		if err != nil {
			return err
		}
		for _, r := range []struct {
			ch     *nftables.Chain
			offset uint32
		}{{in, 12}, {out, 16}} { // IPv4 source and destination address
			c.AddRule(&nftables.Rule{Table: t, Chain: r.ch, Exprs: []expr.Any{
				&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: r.offset, Len: 4},
				&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: n.Mask, Xor: []byte{0, 0, 0, 0}},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: n.IP.To4()},
				drop,
			}})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	return nil
}

// removeRules deletes the fault table from the network namespace fd (none
// there: nothing to do).
func removeRules(fd int) error {
	c, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		return err
	}
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: tableName}
	c.AddTable(t)
	c.DelTable(t)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	return nil
}

// hasRules says whether the fault table exists in the namespace fd.
func hasRules(fd int) (bool, error) {
	c, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		return false, err
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, err
	}
	for _, t := range tables {
		if t.Name == tableName {
			return true, nil
		}
	}
	return false, nil
}

func ipv4Net(s string) (*net.IPNet, error) {
	if !strings.Contains(s, "/") {
		s += "/32"
	}
	_, n, err := net.ParseCIDR(s)
	if err != nil || n.IP.To4() == nil {
		return nil, errors.New("peer " + s + " is not an IPv4 address or CIDR")
	}
	n.IP = n.IP.To4()
	return n, nil
}

// ifname is an interface name as nftables compares it (16 bytes, NUL padded).
func ifname(n string) []byte {
	b := make([]byte, 16)
	copy(b, n)
	return b
}
