package metrics

import (
	"strings"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-realtime/eddy/protocol/fb"
)

// Label values for topics and actions, resolved once.
var topicLabels, actionLabels = func() ([numTopics]string, [256]string) {
	var topics [numTopics]string
	var actions [256]string
	for i := range topics {
		topics[i] = "unknown"
		if n, ok := fb.EnumNamesTopic[fb.Topic(i)]; ok && i != 0 {
			topics[i] = snake(n)
		}
	}
	for i := range actions {
		actions[i] = "unknown"
		if n, ok := fb.EnumNamesAction[fb.Action(i)]; ok && i != 0 {
			actions[i] = snake(n)
		}
	}
	return topics, actions
}()

// snake turns "ErasePath" into "erase_path".
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

var (
	descConns      = prometheus.NewDesc("eddy_connections", "Open client connections by transport (http: API requests in flight; sse: event streams).", []string{"transport"}, nil)
	descIn         = prometheus.NewDesc("eddy_messages_in_total", "Inbound messages by topic and action.", []string{"topic", "action"}, nil)
	descOut        = prometheus.NewDesc("eddy_messages_out_total", "Outbound messages queued to clients (replies and deliveries).", nil, nil)
	descInBytes    = prometheus.NewDesc("eddy_bytes_in_total", "Inbound bytes consumed from clients, framing included.", nil, nil)
	descOutBytes   = prometheus.NewDesc("eddy_bytes_out_total", "Outbound bytes written to clients, framing included.", nil, nil)
	descDeliveries = prometheus.NewDesc("eddy_deliveries_total", "Fan-out deliveries of published events and record changes to subscribers, by topic.", []string{"topic"}, nil)
	descLogins     = prometheus.NewDesc("eddy_logins_total", "Login attempts by result.", []string{"result"}, nil)
	descDenied     = prometheus.NewDesc("eddy_permission_denied_total", "Requests refused by the permission rules, by topic and action.", []string{"topic", "action"}, nil)
	descSlow       = prometheus.NewDesc("eddy_slow_consumer_total", "Full outbound queues: connections closed (disconnect) or messages dropped (drop).", []string{"outcome"}, nil)
	descRPCTimeout = prometheus.NewDesc("eddy_rpc_timeouts_total", "RPC requests that timed out, by the deadline that passed.", []string{"deadline"}, nil)
	descSSESent    = prometheus.NewDesc("eddy_sse_messages_total", "Messages written to server-sent-events streams.", nil, nil)
	descSSEGaps    = prometheus.NewDesc("eddy_sse_gaps_total", "Gap messages: resumed streams whose history no longer reached back.", nil, nil)
	descAPI        = prometheus.NewDesc("eddy_http_api_messages_total", "Messages run through POST /api, by result.", []string{"result"}, nil)
	descSockets    = prometheus.NewDesc("eddy_sockets", "Client sockets held, counted from accept: TCP, WebSocket (before the upgrade too) and HTTP.", nil, nil)
	descRefused    = prometheus.NewDesc("eddy_sockets_refused_total", "Sockets refused at accept because the socket limit derived from the descriptor limit was reached.", nil, nil)
	descAcceptErrs = prometheus.NewDesc("eddy_accept_errors_total", "Failed accepts (out of file descriptors, say) a listener backed off from.", nil, nil)
	descUpgradeTO  = prometheus.NewDesc("eddy_ws_upgrade_timeouts_total", "WebSocket sockets closed because no upgrade request arrived within session.handshakeTimeout.", nil, nil)

	descStoreBatches   = prometheus.NewDesc("eddy_store_batches_total", "Store batches committed, by result.", []string{"result"}, nil)
	descStoreWrites    = prometheus.NewDesc("eddy_store_writes_total", "Store writes by outcome: synced, failed, coalesced (superseded before commit), blocked (waited for queue space).", []string{"outcome"}, nil)
	descStoreLatency   = prometheus.NewDesc("eddy_store_last_batch_seconds", "Time the last store commit took, fsync included.", nil, nil)
	descStoreBatchSize = prometheus.NewDesc("eddy_store_last_batch_writes", "Names written by the last store batch.", nil, nil)
	descStoreBatchByte = prometheus.NewDesc("eddy_store_last_batch_bytes", "Bytes of names and values in the last store batch.", nil, nil)
	descStoreQueued    = prometheus.NewDesc("eddy_store_queued_writes", "Writes queued or being committed.", nil, nil)
	descStoreQueuedB   = prometheus.NewDesc("eddy_store_queued_bytes", "Bytes held by queued writes.", nil, nil)
)

// collector turns Metrics' atomics into Prometheus samples at scrape time.
type collector struct{ m *Metrics }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConns, descIn, descOut, descInBytes, descOutBytes, descDeliveries,
		descLogins, descDenied, descSlow, descRPCTimeout, descSSESent, descSSEGaps, descAPI,
		descSockets, descRefused, descAcceptErrs, descUpgradeTO,
		descStoreBatches, descStoreWrites, descStoreLatency, descStoreBatchSize, descStoreBatchByte, descStoreQueued, descStoreQueuedB} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for i := range m.conns {
		gauge(descConns, float64(m.conns[i].Load()), transportNames[i])
	}
	byTopicAction(&m.in, func(topic, action string, v uint64) { counter(descIn, v, topic, action) })
	byTopicAction(&m.denied, func(topic, action string, v uint64) { counter(descDenied, v, topic, action) })
	for _, t := range []fb.Topic{fb.TopicRecord, fb.TopicEvent, fb.TopicRpc, fb.TopicPresence} {
		counter(descDeliveries, m.deliveries[t].Load(), topicLabels[t])
	}
	counter(descOut, m.outMsgs.Load())
	counter(descInBytes, m.inBytes.Load())
	counter(descOutBytes, m.outBytes.Load())
	counter(descLogins, m.logins[1].Load(), "ok")
	counter(descLogins, m.logins[0].Load(), "refused")
	counter(descSlow, m.slow[0].Load(), "disconnect")
	counter(descSlow, m.slow[1].Load(), "drop")
	counter(descRPCTimeout, m.rpcTimeout[1].Load(), "accept")
	counter(descRPCTimeout, m.rpcTimeout[0].Load(), "response")
	counter(descSSESent, m.sseSent.Load())
	counter(descSSEGaps, m.sseGaps.Load())
	counter(descAPI, m.apiResults[1].Load(), "ok")
	counter(descAPI, m.apiResults[0].Load(), "error")
	gauge(descSockets, float64(m.sockets.Load()))
	counter(descRefused, m.refused.Load())
	counter(descAcceptErrs, m.acceptErrs.Load())
	counter(descUpgradeTO, m.upgradeTO.Load())
	if m.store != nil {
		s := m.store()
		counter(descStoreBatches, s.Batches, "ok")
		counter(descStoreBatches, s.FailedBatches, "failed")
		counter(descStoreWrites, s.SyncedWrites, "synced")
		counter(descStoreWrites, s.FailedWrites, "failed")
		counter(descStoreWrites, s.CoalescedWrites, "coalesced")
		counter(descStoreWrites, s.BlockedWrites, "blocked")
		gauge(descStoreLatency, s.LastBatchLatency.Seconds())
		gauge(descStoreBatchSize, float64(s.LastBatchWrites))
		gauge(descStoreBatchByte, float64(s.LastBatchBytes))
		gauge(descStoreQueued, float64(s.QueuedWrites))
		gauge(descStoreQueuedB, float64(s.QueuedBytes))
	}
}

// byTopicAction calls fn for every non-zero (topic, action) cell, summing
// the cells that share the "unknown" labels.
func byTopicAction(a *[numTopics][256]atomicCounter, fn func(topic, action string, v uint64)) {
	for t := range a {
		var unknown uint64
		for act := range a[t] {
			v := a[t][act].Load()
			if v == 0 {
				continue
			}
			if actionLabels[act] == "unknown" {
				unknown += v
				continue
			}
			fn(topicLabels[t], actionLabels[act], v)
		}
		if unknown > 0 {
			fn(topicLabels[t], "unknown", unknown)
		}
	}
}
