// Hand-written (not generated): the localdc test API, shared by the JUnit
// tests, examples/kotlin-jvm and examples/android.
package dev.mtproto.testing

import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * Requests and replies of the local data center's test API
 * (`localdc/test.tl`), for tests of apps built on these bindings and for the
 * examples: echo, RPC errors, slow calls, pushed updates, and the server's
 * count of cancelled requests. Hand-serialized: a little-endian constructor
 * id, then the arguments; `bytes` and `string` use the TL string encoding,
 * padded to 4 bytes. Not generated; scripts/gen-uniffi.sh never touches it.
 */
object TestApi {
    const val ECHO = 0x8f5c7b19.toInt()
    const val ERROR = 0x27e9abdd
    const val SLEEP = 0x16e1c9d6
    const val PUSH_UPDATES = 0x0e841a3c
    const val CANCELLED_COUNT = 0x6e16d7e7
    const val COUNTER_SLOW = 0xea6b2c5f.toInt()
    const val FORGET_SESSION = 0x54348f76
    const val PAYLOAD = 0xb750c89e.toInt()
    const val UPDATE = 0x953f0002.toInt()
    const val COUNT = 0xf817aaab.toInt()
    const val BOOL_TRUE = 0x997275b5.toInt()

    private class Writer {
        val out = java.io.ByteArrayOutputStream()
        fun int(v: Int) = apply { out.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array()) }
        fun bytes(b: ByteArray) = apply {
            val head = if (b.size < 254) {
                out.write(b.size); 1
            } else {
                out.write(254); out.write(b.size and 0xff); out.write((b.size shr 8) and 0xff); out.write((b.size shr 16) and 0xff); 4
            }
            out.write(b)
            repeat((4 - (head + b.size) % 4) % 4) { out.write(0) }
        }
        fun done(): ByteArray = out.toByteArray()
    }

    fun echo(payload: ByteArray) = Writer().int(ECHO).bytes(payload).done()
    fun error(code: Int, message: String) = Writer().int(ERROR).int(code).bytes(message.toByteArray()).done()
    fun sleep(ms: Int) = Writer().int(SLEEP).int(ms).done()
    fun pushUpdates(count: Int, size: Int) = Writer().int(PUSH_UPDATES).int(count).int(size).done()
    fun cancelledCount() = Writer().int(CANCELLED_COUNT).done()

    /** Where `test.counterSlow` cuts the connection. */
    enum class Cut(val code: Int) { NEVER(0), AFTER_RUN(1), AFTER_ANSWER(2) }

    /**
     * `test.counterSlow`: counts `key` on arrival, answers its value after
     * `ms`, cutting the connection after the query ran or after its answer
     * left the server; the answer then comes on the next connection.
     */
    fun counterSlow(key: String, ms: Int, cut: Cut) =
        Writer().int(COUNTER_SLOW).bytes(key.toByteArray()).int(ms).int(cut.code).done()

    /** `test.forgetSession`: answered, then the server forgets the session. */
    fun forgetSession() = Writer().int(FORGET_SESSION).done()

    class Reader(bytes: ByteArray) {
        private val buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN)
        fun int(): Int = buf.getInt()
        fun long(): Long = buf.getLong()
        fun bytes(): ByteArray {
            val first = buf.get().toInt() and 0xff
            val (len, head) = if (first < 254) first to 1 else {
                val b0 = buf.get().toInt() and 0xff
                val b1 = buf.get().toInt() and 0xff
                val b2 = buf.get().toInt() and 0xff
                (b0 or (b1 shl 8) or (b2 shl 16)) to 4
            }
            val out = ByteArray(len)
            buf.get(out)
            repeat((4 - (head + len) % 4) % 4) { buf.get() }
            return out
        }
        fun expect(id: Int) = apply {
            val got = int()
            check(got == id) { "expected constructor %08x, got %08x".format(id, got) }
        }
    }

    /** The data of a `test.payload`. */
    fun payload(reply: ByteArray): ByteArray = Reader(reply).expect(PAYLOAD).bytes()

    /** `test.update` → (seq, data). */
    fun update(bytes: ByteArray): Pair<Int, ByteArray> {
        val r = Reader(bytes).expect(UPDATE)
        return r.int() to r.bytes()
    }

    /** The value of a `test.count`. */
    fun count(reply: ByteArray): Long = Reader(reply).expect(COUNT).long()

    fun isTrue(reply: ByteArray): Boolean = reply.size == 4 && Reader(reply).int() == BOOL_TRUE
}
