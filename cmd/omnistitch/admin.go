package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/internal/httpapi"
	chsink "github.com/omnistitch/omnistitch/sinks/clickhouse"
	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
)

// adminFlags are the flags forget and unmerge share.
type adminFlags struct {
	cfgPath, customer, id, requestID, actor, api, stateDir string
	offline                                                bool
}

func forgetCmd() *cobra.Command {
	return adminCmd("forget", "Erase a customer (GDPR): journey, profile, identifiers, in the state and in ClickHouse",
		`Erases one customer, named by --customer or by one of its identifiers (--id type:value):
its journey, profile and identifiers, and the merges, conflicts and triggers that name it, from
the state and (through the row outbox) from ClickHouse. Late events of the forgotten customer
(event time up to the forget) are dropped; newer ones with its identifiers make a new customer.
Idempotent: forgetting again answers already_forgotten; a retry with the same --request-id is
applied once. Every request is kept in the audit table.

By default the request goes to the running service's HTTP API (http.addr, with the bearer token
of http.token_env/token_file). With --offline it is applied to the state directory directly,
while the service is stopped; ClickHouse is updated when the service next starts.

An identifier value on the command line is seen by other local users (ps, shell history):
--id type:- reads the value from standard input instead.`)
}

func unmergeCmd() *cobra.Command {
	return adminCmd("unmerge", "Remove an identifier from a customer and split what it wrongly joined",
		`Removes an identifier (--id type:value) from a customer (--customer): the identifier links
nobody from then on, and the customer is recomputed from the links its events recorded; parts no
longer connected become customers of their own, in the state and in ClickHouse. Idempotent, and
audited like forget. Same delivery as forget (HTTP API by default, --offline on a stopped service).`)
}

func adminCmd(op, short, long string) *cobra.Command {
	var f adminFlags
	cmd := &cobra.Command{
		Use:   op + " [--customer ID] [--id TYPE:VALUE] [--offline]",
		Short: short,
		Long:  long,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(f.cfgPath)
			if err != nil {
				return err
			}
			req := httpapi.AdminRequest{RequestID: f.requestID, CustomerID: f.customer, Actor: f.actor}
			if f.id != "" {
				typ, val, ok := strings.Cut(f.id, ":")
				if !ok || typ == "" || val == "" {
					return fmt.Errorf("%s: --id must be type:value (or type:- to read the value from stdin)", op)
				}
				if val == "-" {
					line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
					if err != nil && !errors.Is(err, io.EOF) {
						return fmt.Errorf("%s: reading the value from stdin: %w", op, err)
					}
					val = strings.TrimRight(line, "\r\n")
				}
				req.Type, req.Value = typ, val
			}
			if req.Actor == "" {
				req.Actor = "cli"
			}
			var resp *httpapi.AdminResponse
			if f.offline {
				if f.stateDir != "" {
					cfg.State.Dir = f.stateDir
				}
				resp, err = adminOffline(cfg, op, req)
			} else {
				resp, err = adminOverHTTP(cmd.Context(), cfg, f.api, op, req)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", op, err)
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			return enc.Encode(resp)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.cfgPath, "config", "", "configuration file (default: the built-in configs/omnistitch.yaml)")
	fl.StringVar(&f.customer, "customer", "", "customer id (c_ and 16 hex digits)")
	fl.StringVar(&f.id, "id", "", "identifier as type:value (type:- reads the value from stdin)")
	fl.StringVar(&f.requestID, "request-id", "", "idempotency key: the same id is applied once (default: a new one)")
	fl.StringVar(&f.actor, "actor", "", `who asks, kept in the audit (default "cli")`)
	fl.StringVar(&f.api, "api", "", "the service's HTTP address, http://host:port or https://host:port (default: http.addr of the config, https with http.tls_cert_file)")
	fl.BoolVar(&f.offline, "offline", false, "apply to the state directory directly (the service must be stopped)")
	fl.StringVar(&f.stateDir, "state-dir", "", "with --offline: the state directory (overrides state.dir)")
	return cmd
}

// adminOverHTTP sends the request to the running service.
func adminOverHTTP(ctx context.Context, cfg *config.Config, api, op string, req httpapi.AdminRequest) (*httpapi.AdminResponse, error) {
	if api == "" {
		if cfg.HTTP.Addr == "" {
			return nil, errors.New("http.addr is empty: name the service with --api, or use --offline on a stopped service")
		}
		api = "http://" + cfg.HTTP.Addr
		if cfg.HTTP.TLSCertFile != "" {
			api = "https://" + cfg.HTTP.Addr
		}
	}
	token, err := httpapi.Token(cfg.HTTP)
	if err != nil {
		return nil, err
	}
	client := http.DefaultClient
	if cfg.HTTP.TLSCertFile != "" && strings.HasPrefix(api, "https://") {
		tc, err := httpapi.ClientTLS(cfg.HTTP)
		if err != nil {
			return nil, err
		}
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment}}
	}
	body, _ := json.Marshal(req)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(api, "/")+"/v1/"+op, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	if token != "" {
		hreq.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := client.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("%w (is the service running? --offline applies to a stopped service's state)", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("%s: %s", res.Status, e.Error)
		}
		return nil, fmt.Errorf("%s", res.Status)
	}
	var out httpapi.AdminResponse
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("answer of %s: %w", api, err)
	}
	return &out, nil
}

// adminOffline applies the request to a stopped service's state. The rows
// for ClickHouse wait in the row outbox for the service's next start, as
// they would have if it had crashed right after applying the request.
func adminOffline(cfg *config.Config, op string, req httpapi.AdminRequest) (*httpapi.AdminResponse, error) {
	store, err := state.Open(cfg.State.Dir, state.Options{Sync: true})
	if err != nil {
		return nil, fmt.Errorf("%w (a running service holds its state directory: leave out --offline to go through its API)", err)
	}
	defer store.Close()
	eng, err := stitch.New(cfg, store)
	if err != nil {
		return nil, err
	}
	var hook func(*state.Txn, *stitch.Result) error
	if cfg.ClickHouse.Addr != "" {
		hook = chsink.Stage(eng)
	}
	apply := eng.Forget
	if op == "unmerge" {
		apply = eng.Unmerge
	}
	au, _, err := apply(stitch.Request{ID: req.RequestID, CustomerID: req.CustomerID, IDType: req.Type, IDValue: req.Value, Actor: req.Actor, At: time.Now()}, hook)
	if err != nil {
		return nil, err
	}
	resp := httpapi.ResponseOf(au)
	return &resp, nil
}
