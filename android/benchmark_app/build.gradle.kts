// Android Gradle Plugin 8.7 (needs Gradle 8.9+ and JDK 17) with Kotlin 2.2 (supports AGP 7.3.1-8.10).
// The Kotlin version must equal jvm/pom.xml kotlin.version (tests/test_contract_examples.py checks).
plugins {
    id("com.android.application") version "8.7.3" apply false
    id("org.jetbrains.kotlin.android") version "2.2.21" apply false
}
