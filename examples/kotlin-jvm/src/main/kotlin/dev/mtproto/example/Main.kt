// Connects to a data center (a mtproto-localdc), invokes test.echo from a
// coroutine, receives pushed updates through the listener, and closes.
//
//   java -Djna.library.path=target/release -cp ... dev.mtproto.example.MainKt \
//        127.0.0.1:PORT path/to/localdc.pub.pem [UPDATES]
package dev.mtproto.example

import dev.mtproto.MtprotoException
import dev.mtproto.MtprotoJvm
import dev.mtproto.Runtime
import dev.mtproto.SessionConfig
import dev.mtproto.SessionState
import dev.mtproto.StateListener
import dev.mtproto.UpdateListener
import dev.mtproto.testing.TestApi
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import java.io.File
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import kotlin.system.exitProcess

fun main(args: Array<String>) {
    if (args.size !in 2..3) {
        System.err.println("usage: kotlin-jvm-example ADDRESS PUBLIC_KEY_PEM_FILE [UPDATES]")
        exitProcess(2)
    }
    val address = args[0]
    val pem = File(args[1]).readText()
    val wanted = args.getOrNull(2)?.toInt() ?: 5

    // Listener calls come from one native dispatcher thread; keep it
    // attached to the JVM instead of attaching it for every batch.
    MtprotoJvm.keepCallbackThreadsAttached()
    val runtime = Runtime()
    val session = runtime.openSession(
        SessionConfig(address = address, dcId = 2, publicKeyPem = pem, requestTimeoutMs = 10_000u),
    )
    session.setStateListener(object : StateListener {
        override fun onState(state: SessionState) = println("state: ${describe(state)}")
    })
    val received = CountDownLatch(wanted)
    session.setUpdateListener(object : UpdateListener {
        override fun onUpdates(batch: List<ByteArray>) {
            for (update in batch) {
                val (seq, data) = TestApi.update(update)
                println("update seq=$seq (${data.size} bytes) on ${Thread.currentThread().name}")
                received.countDown()
            }
        }
    })

    val ok = try {
        runBlocking {
            withTimeout(30_000) {
                val started = System.nanoTime()
                val reply = session.invoke(TestApi.echo("hello from Kotlin".toByteArray()))
                val ms = (System.nanoTime() - started) / 1e6
                println("echo: \"${String(TestApi.payload(reply))}\" in %.1f ms (key exchange included)".format(ms))

                val again = System.nanoTime()
                session.invoke(TestApi.echo(byteArrayOf(1, 2, 3, 4)))
                println("second echo in %.2f ms".format((System.nanoTime() - again) / 1e6))

                session.invoke(TestApi.pushUpdates(wanted, 16))
                println("asked the server to push $wanted updates")
            }
        }
        received.await(10, TimeUnit.SECONDS).also {
            println(if (it) "received all $wanted updates" else "missing ${received.count} updates")
        }
    } catch (e: MtprotoException) {
        System.err.println("failed: ${e::class.simpleName}: ${e.message}")
        false
    } finally {
        session.shutdown()
        runtime.shutdown()
        println("closed")
    }
    exitProcess(if (ok) 0 else 1)
}

fun describe(state: SessionState): String = when (state) {
    is SessionState.WaitingToReconnect -> "WaitingToReconnect(${state.delayMs} ms)"
    else -> state.javaClass.simpleName
}
