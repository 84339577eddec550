import ArgumentParser
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleStore
import CapsuleZMQ
import Foundation

struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "token", abstract: "Registration tokens for enrolling agents.",
                                                    subcommands: [Create.self, List.self, Revoke.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create", abstract: "Mint a one-time registration token. The raw token is printed once and never stored.")
        @OptionGroup var options: CTLOptions
        @Option(help: "A name to recognise the token by.") var name: String
        @Option(help: "Lifetime: 30m, 1h, 7d (at most 30d).") var expires = "1h"
        @Option(help: "Only this agent code may enrol with it (required to re-enrol an existing code; an owner must mint that).")
        var agentCode: String?

        func validate() throws {
            guard let seconds = TimeSpan.seconds(expires), seconds > 0, seconds <= 30 * 86_400 else {
                throw ValidationError("--expires must look like 30m, 1h or 7d, and be at most 30d")
            }
        }

        func run() throws {
            try guarded {
                var params: [String: JSONValue] = ["name": .string(name), "expiresInSeconds": .number(TimeSpan.seconds(expires) ?? 3600)]
                if let agentCode { params["agentCode"] = .string(agentCode) }
                let result = try CTLClient(options: options).call("broker", "token.create", .object(params))
                guard let token = result["token"]?.stringValue else { throw ErrorBody(code: "bad_reply", message: "no token in the reply") }
                if options.json {
                    printLine(JSONOutput.render(result))
                } else {
                    printLine(token)
                    FileHandle.standardError.write(Data("This token is shown once. Give it to the new agent (--token). It expires in \(expires).\n".utf8))
                }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List tokens: status, expiry, and the agent that used each.")
        @OptionGroup var options: CTLOptions

        func run() throws {
            try guarded {
                let tokens = try CTLClient(options: options).call([TokenRecord].self, "broker", "token.list")
                if options.json { return printLine(JSONOutput.render(tokens)) }
                printLine(Table.render(["TOKEN", "NAME", "STATUS", "AGENT CODE", "EXPIRES", "USED BY", "CREATED BY"], tokens.map {
                    [$0.id, $0.name, $0.status.rawValue, $0.agentCode ?? "-", Table.timestamp($0.expiresAt), $0.usedBy ?? "-", $0.createdBy]
                }))
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke an unused token.")
        @OptionGroup var options: CTLOptions
        @Argument(help: "The token id (tok_…).") var id: String

        func run() throws {
            try guarded {
                let token = try CTLClient(options: options).call(TokenRecord.self, "broker", "token.revoke", .object(["id": .string(id)]))
                printLine(options.json ? JSONOutput.render(token) : "\(token.status.rawValue)  \(token.id)")
            }
        }
    }
}

struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "agent", abstract: "Disable, enable or revoke an agent.",
                                                    subcommands: [Disable.self, Enable.self, Revoke.self])

    static func change(_ op: String, id: String, options: CTLOptions) throws {
        try guarded {
            let agent = try CTLClient(options: options).call(BrokerStore.AgentRecord.self, "broker", op, .object(["id": .string(id)]))
            printLine(options.json ? JSONOutput.render(agent) : "\(agent.state.rawValue)  \(agent.id)  \(agent.code)")
        }
    }

    struct Disable: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "disable", abstract: "Refuse an agent's messages until enabled; its services read OFFLINE.")
        @OptionGroup var options: CTLOptions
        @Argument(help: "The agent id (agt_…).") var id: String
        func run() throws { try AgentCommand.change("agent.disable", id: id, options: options) }
    }

    struct Enable: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "enable", abstract: "Accept a disabled agent again.")
        @OptionGroup var options: CTLOptions
        @Argument(help: "The agent id (agt_…).") var id: String
        func run() throws { try AgentCommand.change("agent.enable", id: id, options: options) }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "revoke", abstract: "Revoke an agent's key for good; only a fresh enrollment brings it back.")
        @OptionGroup var options: CTLOptions
        @Argument(help: "The agent id (agt_…).") var id: String
        func run() throws { try AgentCommand.change("agent.revoke", id: id, options: options) }
    }
}

struct OperatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "operator", abstract: "Manage operator keys and roles (owner only).",
                                                    subcommands: [Add.self, List.self, Remove.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add", abstract: "Create an operator key with a role and print its key file to hand over.")
        @OptionGroup var options: CTLOptions
        @Argument(help: "The operator's name.") var name: String
        @Option(help: "viewer, operator or owner.") var role: String
        @Option(help: "Write the key file here (mode 0600) instead of printing it.") var out: String?

        func validate() throws {
            guard Principal.Role(rawValue: role) != nil else { throw ValidationError("--role must be viewer, operator or owner") }
        }

        func run() throws {
            try guarded {
                // The key pair is made here; only the public key travels to the broker.
                let pair = try CurveKeyPair.generate()
                _ = try CTLClient(options: options).call("broker", "operator.add", .object([
                    "name": .string(name), "role": .string(role), "publicKey": .string(pair.publicKey.z85),
                ]))
                if let out {
                    try KeyFile.write(pair, to: URL(fileURLWithPath: out), name: name, role: role)
                    printLine("operator \(name) added with role \(role); key file written to \(out)")
                } else {
                    printLine(KeyFile.text(pair, name: name, role: role))
                }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List operators and their roles.")
        @OptionGroup var options: CTLOptions

        func run() throws {
            try guarded {
                let result = try CTLClient(options: options).call("broker", "operator.list")
                if options.json { return printLine(JSONOutput.render(result)) }
                guard case .array(let rows) = result else { return }
                printLine(Table.render(["NAME", "ROLE", "STATE", "PUBLIC KEY"], rows.map {
                    [$0["name"]?.stringValue ?? "", $0["role"]?.stringValue ?? "", $0["state"]?.stringValue ?? "", $0["publicKey"]?.stringValue ?? ""]
                }))
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "remove", abstract: "Revoke an operator's key.")
        @OptionGroup var options: CTLOptions
        @Argument(help: "The operator's name.") var name: String

        func run() throws {
            try guarded {
                _ = try CTLClient(options: options).call("broker", "operator.remove", .object(["name": .string(name)]))
                printLine("REVOKED  operator \(name)")
            }
        }
    }
}
