# Sourced by ./mvnw and ./jmoe: finds a JDK >= 25 and exports JAVA_HOME.
# Order: JAVA_HOME if it is >= 25, then the newest /usr/lib/jvm/* that is >= 25.
jmoe_java_major() {
  # prints the feature version of the JDK at $1 (e.g. 25), or nothing
  [ -x "$1/bin/java" ] && [ -x "$1/bin/javac" ] || return 0
  local v
  v=$("$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p' | head -n 1)
  case "$v" in 1.*) v=${v#1.}; echo "${v%%.*}";; *) echo "${v%%.*}";; esac
}
jmoe_find_jdk() {
  local min=25 best="" bestv=0 d v
  if [ -n "${JAVA_HOME:-}" ]; then
    v=$(jmoe_java_major "$JAVA_HOME")
    if [ -n "$v" ] && [ "$v" -ge "$min" ]; then export JAVA_HOME; return 0; fi
  fi
  for d in /usr/lib/jvm/*; do
    [ -d "$d" ] || continue
    v=$(jmoe_java_major "$d")
    if [ -n "$v" ] && [ "$v" -ge "$min" ] && [ "$v" -gt "$bestv" ]; then best=$d; bestv=$v; fi
  done
  if [ -z "$best" ]; then
    echo "jmoe: no JDK >= $min found (JAVA_HOME=${JAVA_HOME:-unset}, searched /usr/lib/jvm/*); install one, e.g. Temurin 25, or set JAVA_HOME" >&2
    return 1
  fi
  JAVA_HOME=$best
  export JAVA_HOME
}
