package import ArgumentParser
package import Logging

/// Log flags every executable shares.
package struct LogOptions: ParsableArguments, Sendable {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    package var logLevel: String = "info"

    @Option(help: "Log line format on standard error: logfmt (key=value, quoted) or json (one object per line).")
    package var logFormat: LogFormatArgument = .logfmt

    package init() {}

    package func validate() throws {
        guard Logger.Level(rawValue: logLevel.lowercased()) != nil else {
            throw ValidationError(
                "--log-level must be one of trace, debug, info, notice, warning, error, critical (got \(logLevel))"
            )
        }
    }

    /// Bootstraps logging for this process (only `main` calls it) and returns the root logger.
    package func bootstrap(label: String) -> Logger {
        LogSetup.bootstrap(level: logLevel, format: logFormat.format, label: label)
    }
}

/// `--log-format` values.
package enum LogFormatArgument: String, ExpressibleByArgument, CaseIterable, Sendable {
    case logfmt, json
    var format: CapsuleLogHandler.Format { self == .json ? .json : .logfmt }
}

/// Bootstraps swift-log once, from an executable's `main`. Libraries never call this.
package enum LogSetup {
    package static func bootstrap(level: String, format: CapsuleLogHandler.Format = .logfmt, label: String) -> Logger {
        let parsed = Logger.Level(rawValue: level.lowercased()) ?? .info
        LoggingSystem.bootstrap { name in
            CapsuleLogHandler(label: name, format: format, level: parsed)
        }
        var logger = Logger(label: label)
        logger.logLevel = parsed
        return logger
    }
}
