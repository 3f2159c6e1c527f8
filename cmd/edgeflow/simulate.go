package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/edgeflow/edgeflow/anomaly/sim"
	"github.com/spf13/cobra"
)

// newSimulateCmd builds simulate.
func newSimulateCmd() *cobra.Command {
	var o struct {
		url, clientID, topic, speed string
		nab, kinds                  []string
		machines, readings, count   int
		qos, every, length, quiet   int
		interval                    time.Duration
		seed                        uint64
		listFaults                  bool
	}
	cmd := &cobra.Command{
		Use:   "simulate [--nab FILE|DIR|GLOB]... [--machines N] [--speed max|real|100x]",
		Short: "Publish NAB series or simulated machines with injected faults to MQTT",
		Long: `simulate publishes sensor readings to an MQTT broker, one topic per sensor
(--topic, default plant/{sensor}/reading) as JSON {"value": 71.3, "ts": "RFC 3339"}, with
QoS 1 by default, and ends once every reading has been acknowledged by the broker.

Readings come from NAB-format CSV files (--nab: files, folders or glob patterns; the
sensor id is the file name) and from simulated machines (--machines: three sensors each,
<machine>-temp, -vibration and -current, with faults injected every --fault-every readings
after --quiet normal ones; readings inside a fault also carry "fault": true). All series
play side by side, each from its own first reading, at --speed: real for their recorded
pace, 100x for a hundred times faster, max for as fast as the broker acknowledges.
--count stops after that many readings in all.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			speed, err := sim.ParseSpeed(o.speed)
			if err != nil {
				return usageError{err}
			}
			if o.qos < 0 || o.qos > 2 {
				return usageError{fmt.Errorf("--qos %d: want 0, 1 or 2", o.qos)}
			}
			machines := o.machines
			if machines < 0 {
				machines = 0
				if len(o.nab) == 0 {
					machines = 1
				}
			}
			var series []sim.Series
			if len(o.nab) > 0 {
				paths, err := sim.NABFiles(o.nab)
				if err != nil {
					return err
				}
				for _, p := range paths {
					s, err := sim.NAB(p)
					if err != nil {
						return err
					}
					series = append(series, s)
				}
			}
			var faults []sim.Fault
			for i := range machines {
				s, f, err := sim.Machine(sim.MachineConfig{Name: fmt.Sprintf("machine-%d", i+1),
					Readings: o.readings, Interval: o.interval, Seed: o.seed + uint64(i),
					Quiet: o.quiet, Every: o.every, Length: o.length, Kinds: o.kinds})
				if err != nil {
					return usageError{err}
				}
				series, faults = append(series, s...), append(faults, f...)
			}
			if len(series) == 0 {
				return usageError{fmt.Errorf("nothing to publish: give --nab or --machines")}
			}
			out := cmd.OutOrStdout()
			if o.listFaults {
				for _, f := range faults {
					fmt.Fprintf(out, "fault: %-22s %-7s readings %d-%d (%s)\n", f.Sensor, f.Kind, f.From, f.To, f.Start.Format(time.RFC3339))
				}
			}
			id := o.clientID
			if id == "" {
				id = fmt.Sprintf("edgeflow-simulate-%d", os.Getpid())
			}
			client, err := sim.Connect(o.url, id, 10*time.Second)
			if err != nil {
				return err
			}
			defer client.Disconnect(250)
			sum, err := sim.Publish(cmd.Context(), client, series, sim.Options{
				Topic: o.topic, QoS: byte(o.qos), Speed: speed, Count: o.count})
			if err != nil {
				return fmt.Errorf("after %d readings: %w", sum.Readings, err)
			}
			ack := "all acknowledged"
			if o.qos == 0 {
				ack = "QoS 0, unacknowledged"
			}
			fmt.Fprintf(out, "simulate: published %d readings (%d inside %d injected faults) from %d sensors to %s in %s (%.0f readings/s, %s)\n",
				sum.Readings, sum.Faulty, len(faults), sum.Sensors, o.url, sum.Elapsed.Round(time.Millisecond), sum.Rate(), ack)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.url, "url", "tcp://127.0.0.1:1883", "MQTT broker")
	f.StringVar(&o.clientID, "client-id", "", "MQTT client id (default edgeflow-simulate-<pid>)")
	f.StringVar(&o.topic, "topic", sim.DefaultTopic, "topic of each reading; {sensor} is the sensor id")
	f.IntVar(&o.qos, "qos", 1, "publish QoS")
	f.StringVar(&o.speed, "speed", "real", "playback speed: real, a factor such as 100x, or max")
	f.IntVar(&o.count, "count", 0, "stop after this many readings in all (0: play everything)")
	f.StringArrayVar(&o.nab, "nab", nil, "NAB-format CSV file, folder or glob (repeatable)")
	f.IntVar(&o.machines, "machines", -1, "simulated machines (default: 1 without --nab, else 0)")
	f.IntVar(&o.readings, "machine-readings", 3000, "readings per simulated sensor")
	f.DurationVar(&o.interval, "interval", time.Second, "time between two readings of a simulated sensor")
	f.IntVar(&o.quiet, "quiet", 800, "normal readings before the first injected fault")
	f.IntVar(&o.every, "fault-every", 500, "readings between two injected faults of a machine")
	f.IntVar(&o.length, "fault-length", 30, "readings an injected fault lasts")
	f.StringSliceVar(&o.kinds, "faults", nil, "fault kinds to inject: "+strings.Join(sim.FaultKinds, ", ")+" (default all)")
	f.Uint64Var(&o.seed, "seed", 1, "seed of the simulated machines")
	f.BoolVar(&o.listFaults, "list-faults", false, "print the injected faults before publishing")
	return cmd
}
