package import Foundation

/// The console's static files (HTML, CSS, JavaScript modules, an icon): all in the repository under
/// `Sources/CapsuleConsole/Resources`, shipped in the target's resource bundle, read into memory once.
/// Nothing is fetched from anywhere else, so the console works offline.
package struct ConsoleAssets: Sendable {
    package struct Asset: Sendable, Hashable {
        package var bytes: Data
        package var contentType: String
    }

    /// By URL path, such as `/index.html` or `/js/app.js`.
    package let files: [String: Asset]

    /// Reads every file under `directory`.
    package init(directory: URL) throws {
        var files: [String: Asset] = [:]
        let root = directory.standardizedFileURL.resolvingSymlinksInPath().path
        guard let walker = FileManager.default.enumerator(atPath: root) else {
            throw ConsoleError(.assetsMissing, "cannot read the console's files in \(root)")
        }
        while let relative = walker.nextObject() as? String {
            let path = (root as NSString).appendingPathComponent(relative)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
                continue
            }
            guard !relative.split(separator: "/").contains(where: { $0.hasPrefix(".") }) else { continue }
            files["/" + relative] = Asset(
                bytes: try Data(contentsOf: URL(fileURLWithPath: path)),
                contentType: Self.contentType(relative)
            )
        }
        guard files["/index.html"] != nil else { throw ConsoleError(.assetsMissing, "no index.html in \(root)") }
        self.files = files
    }

    /// The files bundled with this build (`Bundle.module`), or those in `override` (for working on the
    /// front end without rebuilding).
    package static func load(override: String?) throws -> ConsoleAssets {
        if let override { return try ConsoleAssets(directory: URL(fileURLWithPath: override)) }
        guard let bundled = Bundle.module.url(forResource: "Resources", withExtension: nil) else {
            throw ConsoleError(.assetsMissing, "the console's files are not in this build's resource bundle")
        }
        return try ConsoleAssets(directory: bundled)
    }

    /// The asset for a request path: `/` is the app's page; unknown paths are nil.
    package func asset(for path: String) -> Asset? {
        files[path == "/" ? "/index.html" : path]
    }

    static func contentType(_ name: String) -> String {
        switch (name as NSString).pathExtension.lowercased() {
        case "html": "text/html; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "js", "mjs": "text/javascript; charset=utf-8"
        case "json": "application/json"
        case "svg": "image/svg+xml"
        case "png": "image/png"
        case "ico": "image/x-icon"
        case "txt": "text/plain; charset=utf-8"
        default: "application/octet-stream"
        }
    }
}

/// A console failure with a stable code (design style: errors are structs with an extensible code).
package struct ConsoleError: Error, Sendable, Hashable, CustomStringConvertible {
    package struct Code: RawRepresentable, Sendable, Hashable {
        package var rawValue: String
        package init(rawValue: String) { self.rawValue = rawValue }
        package static let assetsMissing = Code(rawValue: "assets_missing")
        package static let badListen = Code(rawValue: "bad_listen")
    }

    package var code: Code
    package var message: String

    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { message }
}
