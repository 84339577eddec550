import Logging

/// Bootstraps swift-log once, from an executable's `main`. Libraries never call this.
package enum LogSetup {
    package static func bootstrap(level: String, label: String) -> Logger {
        let parsed = Logger.Level(rawValue: level.lowercased()) ?? .info
        LoggingSystem.bootstrap { name in
            var handler = StreamLogHandler.standardError(label: name)
            handler.logLevel = parsed
            return handler
        }
        var logger = Logger(label: label)
        logger.logLevel = parsed
        return logger
    }
}
