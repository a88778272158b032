package pipeline

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A cluster that does not create topics on first write, with only the
// input topic.
func strictCluster(t *testing.T) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, eventsTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// The service creates its missing output topics (dead letters, triggers)
// at start, so that the outbox is not stuck behind a message nobody
// accepts.
func TestMissingOutputTopicsCreated(t *testing.T) {
	c := strictCluster(t)
	r := start(t, c.ListenAddrs(), t.TempDir())
	want := r.svc.outputTopics()
	if len(want) < 2 || !slices.Contains(want, deadTopic) {
		t.Fatalf("output topics %v: want the dead-letter and the trigger topics", want)
	}
	r.until(t, func(Stats) bool { return r.svc.Ready() })

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	details, err := kadm.NewClient(cl).ListTopics(ctx, want...)
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range want {
		if d, ok := details[topic]; !ok || d.Err != nil {
			t.Errorf("output topic %s not created: %+v", topic, d)
		}
	}
}

// A cluster that refuses to create a missing output topic stops the
// service at start with an error naming it.
func TestMissingOutputTopicRefused(t *testing.T) {
	c := strictCluster(t)
	c.ControlKey(int16(kmsg.CreateTopics), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		creq := req.(*kmsg.CreateTopicsRequest)
		resp := creq.ResponseKind().(*kmsg.CreateTopicsResponse)
		for _, rt := range creq.Topics {
			st := kmsg.NewCreateTopicsResponseTopic()
			st.Topic = rt.Topic
			st.ErrorCode = kerr.PolicyViolation.Code
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	r := start(t, c.ListenAddrs(), t.TempDir())
	defer r.store.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := r.svc.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), deadTopic) || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("Run: %v; want an error naming %s", err, deadTopic)
	}
}
