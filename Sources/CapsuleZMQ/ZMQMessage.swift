package import Foundation

/// One received multipart message and the connection metadata libzmq attached to it.
package struct ZMQMessage: Sendable {
    package var frames: [Data]
    /// The `User-Id` the ZAP handler assigned to the connection this arrived on (nil without ZAP).
    package var userId: String?
    /// The file descriptor of the connection it arrived on, or -1.
    package var sourceFD: Int32
    /// True when the message broke the frame or size cap; its frames are then empty.
    package var oversized: Bool
    package var byteCount: Int

    package init(
        frames: [Data],
        userId: String? = nil,
        sourceFD: Int32 = -1,
        oversized: Bool = false,
        byteCount: Int = 0
    ) {
        self.frames = frames
        self.userId = userId
        self.sourceFD = sourceFD
        self.oversized = oversized
        self.byteCount = byteCount
    }
}
