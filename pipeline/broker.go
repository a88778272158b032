package pipeline

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Broker is an in-process Kafka-protocol cluster (franz-go's kfake) serving
// the real wire protocol on a local TCP port, for the demo and tests. Any
// Kafka client, kcat included, can talk to it.
type Broker struct {
	c *kfake.Cluster
}

// StartBroker starts a one-broker cluster on 127.0.0.1 (port 0 picks a free
// port) with the given topics created with that many partitions.
func StartBroker(port int, partitions int32, topics ...string) (*Broker, error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.SeedTopics(partitions, topics...), kfake.AllowAutoTopicCreation())
	if err != nil {
		return nil, fmt.Errorf("pipeline: embedded broker: %w", err)
	}
	return &Broker{c: c}, nil
}

// Addrs are the broker addresses to give clients.
func (b *Broker) Addrs() []string { return b.c.ListenAddrs() }

// Close stops the broker; its topics are gone.
func (b *Broker) Close() { b.c.Close() }
