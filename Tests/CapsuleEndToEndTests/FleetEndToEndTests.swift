import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleTestSupport
import Foundation
import Testing

/// Issue 10 at small sizes: every reply bounded, summary and list agree, bulk minting, and a fleet
/// that is routed again after a broker restart. `Benchmarks/fleet.sh` measures the large sizes.
@Suite(.serialized)
struct FleetEndToEndTests {
    private func operatorClient(_ cluster: Cluster) throws -> RequestClient {
        let home = CapsuleHome(path: cluster.home.path)
        let (info, serverKey) = try BrokerInfo.resolve(home: home)
        return try RequestClient(
            endpoint: info.router,
            keyPair: try KeyFile.read(home.keyFile("operator")),
            serverKey: serverKey,
            sender: "operator:local-owner",
            timeout: 10
        )
    }

    /// Three agents of 1,000 services each, reported and heartbeating through raw peers.
    private func threeThousandServices(_ cluster: Cluster) throws -> [RawPeer] {
        var peers: [RawPeer] = []
        for index in 0..<3 {
            let code = "bulk-\(index)"
            let peer = try RawPeer(cluster: cluster)
            let agentId = try peer.hello(code: code, token: try cluster.mintToken(agentCode: code)).get()
            try peer.openPublisher()
            let codes = (0..<1_000).map { String(format: "\(code)-svc-%04d", $0) }
            let report = ServiceReport(
                agentId: agentId,
                agentCode: code,
                services: codes.map { ServiceManifest(code: $0, name: $0, version: "1", runtime: "raw") }
            )
            try peer.publish(topic: Topic.report(agentId), .serviceReport, report)
            try peer.heartbeat(agentId: agentId, code: code, services: codes)
            peers.append(peer)
        }
        try cluster.waitFor("3,000 services HEALTHY", seconds: 60) {
            for (index, peer) in peers.enumerated() {
                let code = "bulk-\(index)"
                try peer.heartbeat(
                    agentId: peer.sender,
                    code: code,
                    services: (0..<1_000).map { String(format: "\(code)-svc-%04d", $0) }
                )
            }
            return try cluster.ctlJSON(StatusSummary.self, ["status", "--summary"])?.services["HEALTHY"] == 3_000
        }
        return peers
    }

    @Test func threeThousandServicesReadThroughPagesEachUnderTheCapNothingMissingOrRepeated() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            try cluster.startControlPlane()
            let peers = try threeThousandServices(cluster)
            defer { withExtendedLifetime(peers) {} }
            let client = try operatorClient(cluster)

            var seen: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                let page = try client.call(AggregatorOps.StatusList.self, .init(limit: 500, cursor: cursor))
                #expect(WireCodec.json(page).count < WireCodec.maxBodyBytes, "page \(pages) is under the body cap")
                #expect(page.items.count <= 500)
                seen += page.items.map(\.code)
                cursor = page.next
                pages += 1
            } while cursor != nil && pages < 100
            #expect(pages >= 6, "3,000 rows at 500 a page")
            #expect(seen.count == 3_000, "nothing missing")
            #expect(Set(seen).count == seen.count, "nothing repeated")
            #expect(seen == seen.sorted(), "in service-code order")

            // The CLI pages transparently; a prefix filter runs on the server.
            let all = try #require(try cluster.ctlJSON([ServiceStatusRow].self, ["status"]))
            #expect(all.count == 3_000)
            let one = try #require(try cluster.ctlJSON([ServiceStatusRow].self, ["status", "--prefix", "bulk-1-"]))
            #expect(one.count == 1_000 && one.allSatisfy { $0.code.hasPrefix("bulk-1-") })

            // The summary agrees with the full list. Both are read while the fleet heartbeats, so a
            // service may change status between the two reads on a loaded machine: they are compared
            // until one pair of reads agrees.
            var disagreement = ""
            do {
                try cluster.waitFor("the summary to agree with the full list", seconds: 60) {
                    guard let rows = try cluster.ctlJSON([ServiceStatusRow].self, ["status"]),
                        let summary = try cluster.ctlJSON(StatusSummary.self, ["status", "--summary"])
                    else { return false }
                    var counted: [String: Int] = [:]
                    for row in rows { counted[row.status, default: 0] += 1 }
                    let reported = summary.services.filter { $0.value > 0 }
                    disagreement =
                        "summary \(reported) (total \(summary.totalServices)), list \(counted) (\(rows.count) rows)"
                    return summary.totalServices == rows.count && rows.count == 3_000 && reported == counted
                        && summary.services.values.reduce(0, +) == rows.count
                }
            } catch {
                Issue.record("the summary never agreed with the full list: \(disagreement)")
                throw error
            }

            // A cursor that was tampered with, or belongs to another query, is refused clearly.
            #expect(throws: ErrorBody.self) {
                try client.call(AggregatorOps.StatusList.self, .init(limit: 10, cursor: "not-a-cursor"))
            }
            let first = try client.call(AggregatorOps.StatusList.self, .init(limit: 10))
            do {
                _ = try client.call(
                    AggregatorOps.StatusList.self,
                    .init(prefix: "bulk-2", limit: 10, cursor: first.next)
                )
                Issue.record("a cursor of another query was accepted")
            } catch let error as ErrorBody {
                #expect(error.code == .badCursor, "\(error)")
            }
        }
    }

    @Test func tokensMintedInBulkAreOneTimeHashOnlyAndAudited() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            try cluster.startControlPlane()
            let file = cluster.home.appendingPathComponent("minted.txt")
            let minted = try cluster.ctl([
                "token", "create", "--name", "fleet", "--count", "600", "--out", file.path, "--expires", "10m",
            ])
            #expect(minted.exitCode == 0, "\(minted.stderr)")
            let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n").map {
                $0.split(separator: " ").map(String.init)
            }
            #expect(lines.count == 600)
            #expect(Set(lines.map { $0[0] }).count == 600, "600 names")
            #expect(Set(lines.map { $0[1] }).count == 600, "600 distinct tokens")
            let attributes = try FileManager.default.attributesOfItem(atPath: file.path)
            #expect((attributes[.posixPermissions] as? Int) == 0o600)

            let listed = try #require(try cluster.ctlJSON([TokenRecord].self, ["token", "list"]))
            #expect(listed.filter { $0.name.hasPrefix("fleet-") }.count == 600, "token list pages through all of them")
            try cluster.waitFor("600 token.created events") { try cluster.audit(action: "token.created").count >= 600 }

            // Hash-only: no raw token in the broker's store.
            let store = try Data(contentsOf: cluster.home.appendingPathComponent("data/broker.sqlite"))
            #expect(store.range(of: Data(lines[17][1].utf8)) == nil)

            // One-time: the first hello enrols, a second key with the same token is refused.
            let first = try RawPeer(cluster: cluster)
            #expect((try first.hello(code: "bulk-agent", token: lines[0][1]).get()).hasPrefix("agt_"))
            let second = try RawPeer(cluster: cluster)
            if case .failure(let error) = try second.hello(code: "other-agent", token: lines[0][1]) {
                #expect(error.code == .tokenUsed)
            } else {
                Issue.record("a used token enrolled a second agent")
            }
        }
    }

    /// 200 agents, each with its own key, DEALER and PUB: routed and HEALTHY, then the broker is
    /// killed and restarted, and every agent is routed and HEALTHY again, none disconnected twice.
    @Test func twoHundredAgentsAreRoutedAgainAfterABrokerRestart() async throws {
        try await blocking {
            let cluster = try Cluster()
            defer { cluster.stopAll() }
            try cluster.startControlPlane()
            let count = 200
            let file = cluster.home.appendingPathComponent("swarm-tokens.txt")
            #expect(
                try cluster.ctl(["token", "create", "--name", "swarm", "--count", "\(count)", "--out", file.path])
                    .exitCode == 0
            )
            let tokens = try String(contentsOf: file, encoding: .utf8).split(separator: "\n").compactMap {
                $0.split(separator: " ").last.map(String.init)
            }
            #expect(tokens.count == count)
            let swarm = try Swarm(cluster: cluster, tokens: tokens, servicesPerAgent: 2)
            let client = try operatorClient(cluster)

            func routed() -> Int {
                (try? client.call(BrokerOps.Stats.self, NoParams(), timeout: 2))?.agentsConnected ?? -1
            }
            func healthy() -> Int {
                (try? client.call(AggregatorOps.StatusSummaryOp.self, NoParams(), timeout: 2))?.services["HEALTHY"]
                    ?? -1
            }

            try swarm.run(seconds: 90) { routed() == count && healthy() == 2 * count }
            #expect(swarm.welcomed == count, "every agent enrolled and welcomed")
            #expect(routed() == count)
            #expect(healthy() == 2 * count)

            swarm.resetCounters()
            cluster.stop("broker", signal: SIGKILL)
            try swarm.run(seconds: 1)
            try cluster.startBroker()
            let restarted = Date()
            try swarm.run(seconds: 90) { routed() == count && healthy() == 2 * count }
            let settled = Date().timeIntervalSince(restarted)
            try swarm.run(seconds: 1)  // read the welcomes the broker sent as it routed the last agents
            print(
                "fleet[200 agents]: routed and HEALTHY again \(String(format: "%.1f", settled)) s after the broker restarted"
            )
            #expect(routed() == count, "every agent routed again")
            #expect(healthy() == 2 * count, "every service HEALTHY again")
            let twice = swarm.agents.filter { $0.disconnects > 1 }.map(\.code)
            #expect(twice.isEmpty, "no agent disconnected twice: \(twice.prefix(5))")
            #expect(swarm.agents.allSatisfy { $0.welcomes >= 1 }, "every agent said hello again and was welcomed")
        }
    }
}
