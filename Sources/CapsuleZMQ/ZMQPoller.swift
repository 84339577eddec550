import CZeroMQ

/// A set of sockets and file descriptors polled together with `zmq_poll`.
package struct ZMQPoller {
    private var items: [zmq_pollitem_t] = []

    package init() {}

    package var count: Int { items.count }

    /// Adds a socket watched for input and returns its index.
    @discardableResult
    package mutating func add(_ socket: ZMQSocket) -> Int {
        items.append(zmq_pollitem_t(socket: socket.handle, fd: -1, events: Int16(ZMQ_POLLIN), revents: 0))
        return items.count - 1
    }

    /// Adds a plain file descriptor watched for input and returns its index.
    @discardableResult
    package mutating func add(fd: Int32) -> Int {
        items.append(zmq_pollitem_t(socket: nil, fd: fd, events: Int16(ZMQ_POLLIN), revents: 0))
        return items.count - 1
    }

    package mutating func removeAll() { items.removeAll(keepingCapacity: true) }

    /// Waits up to `timeoutMilliseconds` (-1: forever) and returns how many items are readable.
    package mutating func poll(timeoutMilliseconds: Int) throws(ZMQError) -> Int {
        let count = items.count
        let rc = items.withUnsafeMutableBufferPointer { zmq_poll($0.baseAddress, Int32(count), timeoutMilliseconds) }
        if rc < 0 {
            let error = ZMQError.last("zmq_poll")
            if error.isInterrupted { return 0 }
            throw error
        }
        return Int(rc)
    }

    package func isReadable(_ index: Int) -> Bool {
        items[index].revents & Int16(ZMQ_POLLIN) != 0
    }
}
