package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// The service writes to topics it does not read: dead letters and the
// rules' trigger topics. A cluster that does not create topics on first
// write would refuse those messages, and the outbox, which sends in order,
// would retry the first of them forever while everything behind it waits.
// So the service checks them at start: a missing one is created (with the
// broker's default partitions and replication), and one that cannot be is
// an error naming it.

// outputTopics are the topics the service produces to, sorted.
func (s *Service) outputTopics() []string {
	topics := []string{s.o.DeadLetterTopic}
	if set := s.eng.Rules(); set != nil {
		for _, r := range set.Rules {
			topics = append(topics, set.TopicOf(r))
		}
	}
	slices.Sort(topics)
	return slices.Compact(topics)
}

// ensureOutputTopics creates the output topics that do not exist. It
// returns an error only for a topic the cluster says is missing and
// refuses to create; when the cluster cannot be asked, the send loop's
// retries and warnings take over.
func (s *Service) ensureOutputTopics(ctx context.Context) error {
	adm := kadm.NewClient(s.cl)
	topics := s.outputTopics()
	details, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		s.log.Warn("could not check the output topics; sending will retry", "err", err)
		return nil
	}
	var missing []string
	for _, t := range topics {
		if d, ok := details[t]; !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
			missing = append(missing, t)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	created, err := adm.CreateTopics(ctx, -1, -1, nil, missing...)
	if err != nil {
		s.log.Warn("could not create the missing output topics; sending will retry", "topics", missing, "err", err)
		return nil
	}
	for _, t := range missing {
		r, ok := created[t]
		switch {
		case ok && (r.Err == nil || errors.Is(r.Err, kerr.TopicAlreadyExists)):
			s.log.Info("created output topic", "topic", t)
		case ok:
			return fmt.Errorf("pipeline: output topic %s does not exist and the cluster refused to create it (%v): create it, or correct kafka.dead_letter_topic or the rules' topic", t, r.Err)
		default:
			return fmt.Errorf("pipeline: output topic %s does not exist and the cluster did not answer its creation", t)
		}
	}
	return nil
}
