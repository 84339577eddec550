import Foundation

/// The fleet run's closing table: every figure beside the raw baseline and the lead's target.
enum FleetReport {
    static func render(
        options: FleetOptions,
        startedAt: Date,
        load: String,
        raw: PhaseFigures?,
        capsule: (PhaseFigures, CapsuleExtras)?,
        pressure: String
    ) -> String {
        var out: [String] = []
        let n = options.agents
        let services = n * options.services
        out.append("")
        out.append("capsule-bench fleet  \(ISO8601DateFormatter().string(from: startedAt))")
        out.append(
            "machine: \(sysconf(Int32(_SC_NPROCESSORS_ONLN))) cores, load average at start \(load); other processes may be running"
        )
        out.append(
            "fleet: \(n) agents × \(options.services) services = \(services) services, heartbeat \(fmt(options.heartbeat)) s, stale/offline \(fmt(options.stale))/\(fmt(options.offline)) s; \(options.processes) worker processes (nice \(options.nice)) × \(options.shards) shards × \(options.ioThreads) libzmq I/O threads; agents' ZMTP heartbeat \(options.zmtpText); RECONNECT_IVL \(options.reconnect.0)–\(options.reconnect.1) ms; broker and raw server \(options.brokerIOThreads) I/O thread(s)"
        )
        out.append(
            "CPU: % of one core from /proc/<pid>/stat over the window; RSS: VmRSS. raw = fleet-raw-server (libzmq CURVE ROUTER + XSUB + admit-all ZAP, no Capsule code), same agents, same traffic"
        )
        out.append("")
        func row(_ name: String, _ capsule: String, _ raw: String, _ ratio: String = "", _ target: String = "") {
            out.append(
                name.padding(toLength: 52, withPad: " ", startingAt: 0) + " "
                    + capsule.padding(toLength: 26, withPad: " ", startingAt: 0)
                    + " " + raw.padding(toLength: 22, withPad: " ", startingAt: 0) + " "
                    + ratio.padding(toLength: 9, withPad: " ", startingAt: 0)
                    + " " + target
            )
        }
        row("figure", "capsule", "raw baseline", "ratio", "target")
        row(
            String(repeating: "-", count: 52),
            String(repeating: "-", count: 26),
            String(repeating: "-", count: 22),
            String(repeating: "-", count: 9),
            "------"
        )
        let c = capsule?.0
        let x = capsule?.1
        func ratio(_ a: Double?, _ b: Double?) -> String {
            guard let a, let b, b > 0, a.isFinite, b.isFinite else { return "" }
            return String(format: "%.2f×", a / b)
        }
        func verdict(_ ok: Bool?) -> String { ok.map { $0 ? "  [met]" : "  [MISSED]" } ?? "" }

        row(
            "agents welcomed (agents' view)",
            c.map { "\($0.welcomed) / \(n)" } ?? "-",
            raw.map { "\($0.welcomed) / \(n)" } ?? "-"
        )
        row("agents routed (broker.stats agentsConnected)", c?.routed.map { "\($0) / \(n)" } ?? "-", "-")
        if let x {
            let counts = x.steadyCounts
            row(
                "services per effectiveStatus (steady)",
                "\(counts["HEALTHY"]) HEALTHY / \(services)",
                "-",
                "",
                "others: unhealthy \(counts["UNHEALTHY"]) stale \(counts["STALE"]) offline \(counts["OFFLINE"]) unknown \(counts["UNKNOWN"])"
            )
        }
        row(
            "heartbeats/s sent by the fleet (steady)",
            c?.heartbeatsPerSecond.map { fmt($0) } ?? "-",
            raw?.heartbeatsPerSecond.map { fmt($0) } ?? "-",
            "",
            String(format: "expected %.0f", Double(n) / options.heartbeat)
        )
        if let x {
            row(
                "  broker forwarded / aggregator received /s",
                "\(x.brokerForwardedPerSecond.map { fmt($0) } ?? "n/a") / \(x.aggregatorReceivedPerSecond.map { fmt($0) } ?? "n/a")",
                "-",
                "",
                x.brokerDrops.isEmpty ? "" : "broker drops: \(x.brokerDrops)"
            )
        }
        out.append("")
        let serverCPU = c?.serverCPU
        let both = c.flatMap { f in f.serverCPU.flatMap { a in f.aggregatorCPU.map { a + $0 } } }
        row("broker CPU, steady (% of one core)", pct(serverCPU), pct(raw?.serverCPU), ratio(serverCPU, raw?.serverCPU))
        row("aggregator CPU, steady", pct(c?.aggregatorCPU), "-")
        row("audit CPU, steady", pct(c?.auditCPU), "-")
        row(
            "broker + aggregator CPU, steady",
            pct(both),
            pct(raw?.serverCPU),
            ratio(both, raw?.serverCPU),
            "< 15 %" + verdict(both.map { $0 < 15 })
        )
        row(
            "simulator CPU (all workers), steady",
            pct(c?.simCPU),
            pct(raw?.simCPU),
            "",
            x?.driverCPU.map { "driver \(pct($0))" } ?? ""
        )
        out.append("")
        row(
            "broker RSS idle → steady",
            "\(kib(c?.serverRSSIdle)) → \(kib(c?.serverRSS))",
            "\(kib(raw?.serverRSSIdle)) → \(kib(raw?.serverRSS))"
        )
        let perAgent = c?.perAgentKiB
        let rawPerAgent = raw?.perAgentKiB
        row(
            "server RSS per agent (2 connections)",
            perAgent.map { String(format: "%.1f KiB", $0) } ?? "n/a",
            rawPerAgent.map { String(format: "%.1f KiB", $0) } ?? "n/a",
            ratio(perAgent, rawPerAgent),
            "≤ 1.5× raw" + verdict(perAgent.flatMap { p in rawPerAgent.map { p <= 1.5 * $0 } })
        )
        row(
            "aggregator RSS, steady",
            "\(kib(x?.aggregatorRSSIdle)) → \(kib(c?.aggregatorRSS))",
            "-",
            "",
            "< 100 MiB" + verdict(c?.aggregatorRSS.map { $0 < 100 * 1_024 })
        )
        row("audit RSS, steady", kib(c?.auditRSS), "-")
        out.append("")
        if let x {
            row(
                "tokens minted",
                String(format: "%d in %.1f s", n, x.mintSeconds),
                "-",
                "",
                x.mintBulk ? "bulk token.create {count}" : "one token.create each, one RequestClient"
            )
        }
        row(
            "enrolled from zero (first connect → all welcomed)",
            seconds(x?.enrolled),
            "-",
            "",
            "< 120 s" + verdict(x?.enrolled.map { $0 < 120 })
        )
        row(
            "  → every agent welcomed and its PUB handshaken",
            seconds(c?.settle),
            seconds(raw?.settle),
            ratio(c?.settle, raw?.settle)
        )
        row(
            "time to settle (→ every service HEALTHY)",
            seconds(c?.healthy),
            "-",
            "",
            String(format: "connect pacing alone: %.1f s", Double(n) / options.connectRate)
        )
        if let x {
            row("  broker / aggregator CPU while enrolling", "\(pct(x.enrolCPU.0)) / \(pct(x.enrolCPU.1))", "-")
        }
        out.append("")
        row("broker SIGKILL + restart (\(fmt(options.downSeconds)) s down):", "", "")
        row(
            "  → every agent welcomed again, PUB up",
            seconds(c?.reconnectWelcomed),
            seconds(raw?.reconnectWelcomed),
            ratio(c?.reconnectWelcomed, raw?.reconnectWelcomed),
            ""
        )
        row("  → every agent routed", seconds(x?.reconnectRouted), "-")
        row(
            "  → every agent's heartbeat past the server",
            seconds(c?.reconnectHeartbeats),
            seconds(raw?.reconnectHeartbeats),
            ratio(c?.reconnectHeartbeats, raw?.reconnectHeartbeats),
            ""
        )
        row(
            "  → every service HEALTHY",
            seconds(c?.reconnectHealthy),
            "-",
            "",
            "≤ 15 s"
                + verdict(
                    c.map { f in
                        (f.reconnectHealthy ?? 999) <= 15 && (f.reconnectHeartbeats ?? 999) <= 15
                            && (f.reconnectWelcomed ?? 999) <= 15
                    }
                )
        )
        row("  lowest HEALTHY count during it", c?.minHealthyDuring.map { "\($0) / \(services)" } ?? "-", "-")
        row(
            "  agents that disconnected more than once",
            c?.disconnectedTwice.map { "\($0) (max \(c?.maxDisconnects ?? 0))" } ?? "-",
            raw?.disconnectedTwice.map { "\($0) (max \(raw?.maxDisconnects ?? 0))" } ?? "-",
            "",
            "0" + verdict(c?.disconnectedTwice.map { $0 == 0 })
        )
        row(
            "  broker CPU during the reconnect",
            pct(c?.reconnectCPU),
            pct(raw?.reconnectCPU),
            ratio(c?.reconnectCPU, raw?.reconnectCPU)
        )
        if let c, !c.reconnectCurve.isEmpty {
            out.append(
                "  reconnect curve, capsule (s after restart: agents welcomed / agents whose heartbeat reached the bus):"
            )
            out.append("    " + curveText(c.reconnectCurve, n: n))
        }
        if let raw, !raw.reconnectCurve.isEmpty {
            out.append(
                "  reconnect curve, raw (s after restart: agents replied / agents whose heartbeat reached the server):"
            )
            out.append("    " + curveText(raw.reconnectCurve, n: n))
        }
        if let x {
            out.append("")
            if x.skipped { out.append("health flip and churn: skipped, the fleet never settled") }
            if options.churn > 0 && !x.skipped {
                row(
                    "killed agents' services OFFLINE (\(x.killed) agents)",
                    seconds(x.killedOffline),
                    "-",
                    "",
                    String(format: "≤ %.0f s", options.offline + 1)
                        + verdict(x.killedOffline.map { $0 <= options.offline + 1 })
                )
                row(
                    "  others still HEALTHY meanwhile (lowest)",
                    x.othersHealthyMin.map { "\($0) / \(x.othersExpected)" } ?? "-",
                    "",
                    "",
                    verdict(x.othersHealthyMin.map { $0 >= x.othersExpected })
                )
                row("  restarted → every service HEALTHY", seconds(x.restartHealthy), "-")
            }
            if options.flip > 0 && !x.skipped {
                row(
                    "health flip: \(x.flipped) services DOWN → UNHEALTHY",
                    seconds(x.flipDown),
                    "-",
                    "",
                    String(format: "next heartbeat ≤ %.0f s", options.heartbeat)
                )
                row("  back UP → HEALTHY", seconds(x.flipUp), "-")
            }
            if options.commands > 0 {
                row(
                    "command burst: \(x.commandCreated) command.create",
                    String(format: "median %.1f ms, p99 %.1f ms", x.commandCreateMedian, x.commandCreateP99),
                    "-",
                    "",
                    x.commandRefused.isEmpty ? "" : "refused \(x.commandRefused)"
                )
                row(
                    "  → all SUCCEEDED (from the first create)",
                    seconds(x.commandAllDone),
                    "-",
                    "",
                    String(format: "creates took %.2f s", x.commandCreateSpan)
                )
            }
            out.append("")
            let summary: String
            if x.ctlSummaryTimes.isEmpty {
                summary = "n/a (not implemented)"
            } else {
                let ok = x.ctlSummaryTimes.filter { $0.1 == 0 }.map { $0.0 * 1_000 }
                summary =
                    ok.isEmpty
                    ? "failed: \(x.ctlSummaryTimes.first!.2.prefix(60))"
                    : String(format: "%.0f ms median", percentile(ok, 0.5))
            }
            row(
                "capsulectl status --summary",
                summary,
                "-",
                "",
                "< 100 ms"
                    + verdict(
                        x.ctlSummaryTimes.isEmpty
                            ? nil
                            : summary.hasSuffix("median") && (Double(summary.split(separator: " ")[0]) ?? 999) < 100
                    )
            )
            let okList = x.ctlListTimes.filter { $0.1 == 0 }
            let listText: String
            if okList.isEmpty {
                listText =
                    x.ctlListTimes.first.map { String(format: "FAILED (exit %d after %.1f s)", $0.1, $0.0) } ?? "n/a"
            } else {
                listText = String(format: "%.2f s median", percentile(okList.map(\.0), 0.5))
            }
            row(
                "capsulectl \(x.ctlListArgs) (\(services) services)",
                listText,
                "-",
                "",
                "< 2 s"
                    + verdict(x.ctlListTimes.isEmpty ? nil : !okList.isEmpty && percentile(okList.map(\.0), 0.5) < 2)
            )
            if let first = x.ctlListTimes.first {
                out.append("    first attempt: \(first.2.replacingOccurrences(of: "\n", with: " ").prefix(200))")
            }
            row(
                "aggregator.stats round trip, under load",
                x.statsLatency.map { String(format: "median %.2f ms, max %.1f", $0.0, $0.1) } ?? "failed",
                "-"
            )
            row(
                "broker.stats round trip, under load",
                x.brokerStatsLatency.map { String(format: "median %.2f ms, max %.1f", $0.0, $0.1) } ?? "failed",
                "-"
            )
            row(
                "status.summary round trip",
                x.summaryOp
                    ? (x.summaryLatency.map { String(format: "median %.2f ms", $0.0) } ?? "failed")
                    : "n/a (not implemented)",
                "-"
            )
            row(
                "status.list page of 100",
                x.pagedList
                    ? (x.pageLatency.map { String(format: "median %.2f ms", $0.0) } ?? "failed")
                    : "n/a (not implemented)",
                "-"
            )
            out.append("")
            out.append(
                "status counts come from the bus (evt.service.transition, gaps replayed from the aggregator's journal: \(x.gaps.filled) replayed, \(x.gaps.missed) missed)"
                    + (x.summaryOp ? "; status.summary also answers" : "")
            )
            if !x.welcomeCurve.isEmpty {
                out.append(
                    "enrolment curve (s after the first worker started: agents welcomed): "
                        + x.welcomeCurve.map { String(format: "%.0f:%d", $0.0, $0.1) }.joined(separator: " ")
                )
            }
            if !x.perfReport.isEmpty {
                out.append("perf record -g of the broker over the steady window (self time, top symbols):")
                out.append(x.perfReport)
            }
        }
        for note in raw?.notes ?? [] { out.append("note: \(note)") }
        out.append("machine stalls (/proc/pressure; other engineers share this machine): whole run \(pressure)")
        for (phase, f) in [("capsule", capsule?.0), ("raw", raw)] {
            guard let f else { continue }
            for key in f.pressure.keys.sorted() { out.append("  \(phase) \(key): \(f.pressure[key]!)") }
        }
        return out.joined(separator: "\n")
    }

    static func curveText(_ curve: [(Double, Int, Int)], n: Int) -> String {
        var text: [String] = []
        var lastShown = -10.0
        // Every second for the first 15 s, then every 5 s.
        for (t, welcomed, seen) in curve where t - lastShown >= (t < 15 ? 1 : 5) || (welcomed >= n && seen >= n) {
            text.append(String(format: "%.0f:%d/%d", t, welcomed, seen))
            lastShown = t
            if welcomed >= n && seen >= n { break }
        }
        return text.joined(separator: " ")
    }

    static func fmt(_ v: Double) -> String { v == v.rounded() ? String(format: "%.0f", v) : String(format: "%.1f", v) }
}
