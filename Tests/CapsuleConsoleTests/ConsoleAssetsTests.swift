import CapsuleConsole
import Foundation
import Testing

/// The front end as shipped: complete, self-contained, and building the page without HTML parsing.
struct ConsoleAssetsTests {
    let assets: ConsoleAssets

    init() throws { assets = try ConsoleAssets.load(override: nil) }

    var scripts: [(String, String)] {
        assets.files.filter { $0.key.hasSuffix(".js") }.map {
            ($0.key, String(decoding: $0.value.bytes, as: UTF8.self))
        }
    }

    @Test func thePageAndItsScriptsAreBundled() throws {
        let page = try #require(assets.asset(for: "/"))
        #expect(page.contentType.hasPrefix("text/html"))
        #expect(assets.asset(for: "/js/app.js")?.contentType.hasPrefix("text/javascript") == true)
        #expect(assets.asset(for: "/css/console.css")?.contentType.hasPrefix("text/css") == true)
        #expect(assets.asset(for: "/nope.js") == nil)
    }

    /// Every `import … from './x.js'` names a bundled file, so no module fails to load in the browser.
    @Test func everyImportResolves() throws {
        let pattern = try NSRegularExpression(pattern: #"from\s+'(\.{1,2}/[^']+)'"#)
        for (path, text) in scripts {
            let folder = (path as NSString).deletingLastPathComponent
            for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                let target = String(text[Range(match.range(at: 1), in: text)!])
                let resolved = URL(fileURLWithPath: folder).appendingPathComponent(target).standardized.path
                #expect(assets.files[resolved] != nil, "\(path) imports \(target), which is not bundled")
            }
        }
    }

    /// Works offline: nothing is loaded from another origin.
    @Test func nothingComesFromElsewhere() {
        for (path, asset) in assets.files where !asset.contentType.hasPrefix("image/png") {
            let text = String(decoding: asset.bytes, as: UTF8.self)
            #expect(
                !text.contains("http://") && !text.contains("https://") || path.hasSuffix(".svg"),
                "\(path) names a URL"
            )
        }
    }

    /// Data is rendered as text nodes only: no HTML parsing APIs anywhere in the front end.
    @Test func noHTMLParsingSinks() {
        for (path, text) in scripts {
            for sink in [
                "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                "createContextualFragment",
            ] {
                #expect(!text.contains(sink), "\(path) uses \(sink)")
            }
        }
    }
}
