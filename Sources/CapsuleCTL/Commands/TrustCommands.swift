import ArgumentParser
import CapsuleDaemon
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleZMQ
import Foundation

struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Registration tokens for enrolling agents.",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Mint one-time registration tokens. Each raw token is printed once and never stored."
        )
        @OptionGroup var options: CTLOptions
        @Option(
            help:
                "A name to recognise the token by (an identifier: a-z, 0-9, '.', '_', '-'); with --count, tokens are NAME-1 … NAME-N."
        )
        var name: String
        @Option(help: "Lifetime: 30m, 1h, 7d (at most 30d).") var expires = "1h"
        @Option(
            help:
                "Only this agent code may enrol with it (required to re-enrol an existing code; an owner must mint that)."
        )
        var agentCode: String?
        @Option(help: "Mint this many tokens in bulk (each one-time, hash-only and audited).") var count = 1
        @Option(
            help:
                "With --count: write the tokens to this file (mode 0600), one `NAME TOKEN` per line, instead of printing them."
        )
        var out: String?

        func validate() throws {
            guard let seconds = TimeSpan.seconds(expires), seconds > 0, seconds <= 30 * 86_400 else {
                throw ValidationError("--expires must look like 30m, 1h or 7d, and be at most 30d")
            }
            guard count >= 1, count <= 100_000 else { throw ValidationError("--count must be between 1 and 100000") }
            if count > 1, agentCode != nil {
                throw ValidationError("--agent-code binds one token to one code; it cannot go with --count")
            }
        }

        func run() throws {
            try guarded {
                let client = try CTLClient(options: options)
                let seconds = TimeSpan.seconds(expires) ?? 3600
                guard count > 1 || out != nil else {
                    let created = try client.call(
                        BrokerOps.TokenCreate.self,
                        .init(name: name, expiresInSeconds: seconds, agentCode: agentCode)
                    )
                    if options.json { return printLine(options.render(created)) }
                    printLine(created.token)
                    FileHandle.standardError.write(
                        Data(
                            "Token \(created.record.id) (\(created.record.name)) is shown once. Give it to the new agent (--token). It expires in \(expires); revoke it with capsulectl token revoke \(created.record.id).\n"
                                .utf8
                        )
                    )
                    return
                }
                var minted: [TokenCreated] = []
                while minted.count < count {
                    let batch = min(BrokerOps.TokenCreateBatch.maxCount, count - minted.count)
                    let reply = try client.call(
                        BrokerOps.TokenCreateBatch.self,
                        .init(
                            name: name,
                            count: batch,
                            firstIndex: minted.count + 1,
                            expiresInSeconds: seconds
                        )
                    )
                    minted += reply.tokens
                }
                let lines = minted.map { "\($0.record.name) \($0.token)" }.joined(separator: "\n") + "\n"
                if let out {
                    let fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
                    guard fd >= 0 else {
                        throw ErrorBody(
                            .badRequest,
                            "cannot create \(out): \(String(cString: strerror(errno))) (it must not exist)"
                        )
                    }
                    let written = lines.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
                    close(fd)
                    guard written == lines.utf8.count else { throw ErrorBody(.badRequest, "could not write \(out)") }
                    FileHandle.standardError.write(
                        Data("minted \(minted.count) tokens into \(out) (mode 0600); each is shown nowhere else\n".utf8)
                    )
                } else if options.json {
                    printLine(options.render(minted))
                } else {
                    printLine(lines.trimmingCharacters(in: .newlines))
                }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List tokens: status, expiry, and the agent that used each."
        )
        @OptionGroup var options: CTLOptions
        @Option(help: "Only tokens with this status (ACTIVE, USED, EXPIRED, REVOKED).") var status: String?

        func validate() throws {
            if let status, TokenStatus(rawValue: status.uppercased()) == nil {
                throw ValidationError(
                    "unknown status \(status); use one of \(TokenStatus.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
        }

        func run() throws {
            try guarded {
                var tokens: [TokenRecord] = []
                try CTLClient(options: options).pages(
                    BrokerOps.TokenList.self,
                    .init(
                        status: status.flatMap { TokenStatus(rawValue: $0.uppercased()) },
                        limit: PageCursor.maxLimit
                    ),
                    cursor: \.cursor
                ) { tokens += $0 }
                if options.json { return printLine(options.render(tokens)) }
                printLine(
                    options.table(
                        ["TOKEN", "NAME", "STATUS", "AGENT CODE", "EXPIRES", "USED BY", "CREATED BY"],
                        tokens.map {
                            [
                                $0.id, $0.name, $0.status.rawValue, $0.agentCode ?? "-", Table.timestamp($0.expiresAt),
                                $0.usedBy ?? "-", $0.createdBy,
                            ]
                        }
                    )
                )
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke an unused token.")
        @OptionGroup var options: CTLOptions
        @Argument(help: "The token id (tok_…).") var id: String

        func run() throws {
            try guarded {
                let token = try CTLClient(options: options).call(BrokerOps.TokenRevoke.self, .init(id: id))
                printLine(options.json ? options.render(token) : "\(token.status.rawValue)  \(token.id)")
            }
        }
    }
}

struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Disable, enable, revoke or forget an agent.",
        subcommands: [Disable.self, Enable.self, Revoke.self, Forget.self]
    )

    static func change<Op: RequestOperation>(_ op: Op.Type, id: String, options: CTLOptions) throws
    where Op.Params == BrokerOps.ByID, Op.Result == AgentRecord {
        try guarded {
            let agent = try CTLClient(options: options).call(op, .init(id: id))
            printLine(options.json ? options.render(agent) : "\(agent.state.rawValue)  \(agent.id)  \(agent.code)")
        }
    }

    struct Disable: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "disable",
            abstract: "Refuse an agent's reports and new commands until enabled; its services read OFFLINE."
        )
        @OptionGroup var options: CTLOptions
        @Argument(help: "The agent id (agt_…).") var id: String
        func run() throws { try AgentCommand.change(BrokerOps.AgentDisable.self, id: id, options: options) }
    }

    struct Enable: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "enable",
            abstract: "Accept a disabled agent again; held commands are delivered."
        )
        @OptionGroup var options: CTLOptions
        @Argument(help: "The agent id (agt_…).") var id: String
        func run() throws { try AgentCommand.change(BrokerOps.AgentEnable.self, id: id, options: options) }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "revoke",
            abstract: "Revoke an agent's key for good; only a fresh enrollment brings it back."
        )
        @OptionGroup var options: CTLOptions
        @Argument(help: "The agent id (agt_…).") var id: String
        func run() throws { try AgentCommand.change(BrokerOps.AgentRevoke.self, id: id, options: options) }
    }

    struct Forget: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "forget",
            abstract: "Decommission a revoked agent: it and its services leave the broker and the status (audited)."
        )
        @OptionGroup var options: CTLOptions
        @Argument(help: "The agent id (agt_…).") var id: String

        func run() throws {
            try guarded {
                _ = try CTLClient(options: options).call(BrokerOps.AgentForget.self, .init(id: id))
                printLine("FORGOTTEN  agent \(id)")
            }
        }
    }
}

struct OperatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "operator",
        abstract: "Manage operator keys and roles (owner only).",
        subcommands: [Add.self, List.self, Remove.self]
    )

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Create an operator key with a role and print its key file to hand over."
        )
        @OptionGroup var options: CTLOptions
        @Argument(help: "The operator's name (an identifier: a-z, 0-9, '.', '_', '-').") var name: String
        @Option(help: "viewer, operator or owner.") var role: String
        @Option(help: "Write the key file here (mode 0600) instead of printing it.") var out: String?

        func validate() throws {
            guard OperatorRole(rawValue: role) != nil else {
                throw ValidationError("--role must be viewer, operator or owner")
            }
            guard Identifier.isValid(name) else {
                throw ValidationError(IdentifierError(what: "operator name", value: name).description)
            }
        }

        func run() throws {
            try guarded {
                // The key pair is made here; only the public key travels to the broker.
                let pair = try CurveKeyPair.generate()
                _ = try CTLClient(options: options).call(
                    BrokerOps.OperatorAdd.self,
                    .init(
                        name: name,
                        role: OperatorRole(rawValue: role) ?? .viewer,
                        publicKey: pair.publicKey.z85
                    )
                )
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
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List operators and their roles."
        )
        @OptionGroup var options: CTLOptions

        func run() throws {
            try guarded {
                var rows: [OperatorRecord] = []
                try CTLClient(options: options).pages(
                    BrokerOps.OperatorList.self,
                    .init(limit: PageCursor.maxLimit),
                    cursor: \.cursor
                ) { rows += $0 }
                if options.json { return printLine(options.render(rows)) }
                printLine(
                    options.table(
                        ["NAME", "ROLE", "STATE", "PUBLIC KEY", "CREATED"],
                        rows.map {
                            [$0.name, $0.role.rawValue, $0.state.rawValue, $0.publicKey, Table.timestamp($0.createdAt)]
                        }
                    )
                )
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "remove", abstract: "Revoke an operator's key.")
        @OptionGroup var options: CTLOptions
        @Argument(help: "The operator's name.") var name: String

        func run() throws {
            try guarded {
                _ = try CTLClient(options: options).call(BrokerOps.OperatorRemove.self, .init(name: name))
                printLine("REVOKED  operator \(name)")
            }
        }
    }
}
