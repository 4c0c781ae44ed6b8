;; A klairr:connector@0.2.0 connector whose `describe` grows a table by 1,000,000,000 elements (8 GB of
;; funcref slots in wasmtime), something Rust code cannot ask for. tests/build.rs embeds the WIT world
;; `klairr:connector/plugin` (wit/connector-0.2.0) and wraps this core module into a component; the path
;; of the result is `env!("KLAIRR_WAT_TABLE_GROW")`.
;;
;; A host that bounds table elements refuses the growth: `table.grow` returns -1 and `describe` traps
;; (`unreachable`), which the host must report as a sandbox error. A host that does not bound them lets
;; the growth through and `describe` returns a valid catalogue (connector "wat-table-grow"), so a test
;; that expects the trap fails.
;;
;; Core exports follow the canonical ABI's legacy names (`wasm-tools component embed --dummy-names legacy
;; wit/connector-0.2.0 --world plugin -t` prints them). Every function but `describe` traps.
(module
  (memory $mem (export "memory") 1)
  (table $table 1 funcref)

  ;; `describe`'s return area at 256, a connector-info record (canonical ABI, 72 bytes; the last 28, the
  ;; `aggregates` option, are zeros: none):
  ;;   name (ptr 512, len 14), api-version (ptr 544, len 17), default-cache-ttl-seconds 3600,
  ;;   default-max-rows 100, max-rows-limit 1000, query-doc (ptr 576, len 4), tables (ptr 592, len 0).
  (data (i32.const 256)
    "\00\02\00\00" "\0e\00\00\00"
    "\20\02\00\00" "\11\00\00\00"
    "\10\0e\00\00" "\64\00\00\00" "\e8\03\00\00"
    "\40\02\00\00" "\04\00\00\00"
    "\50\02\00\00" "\00\00\00\00")
  (data (i32.const 512) "wat-table-grow")
  (data (i32.const 544) "2026-04-22.dahlia")
  (data (i32.const 576) "none")

  (func (export "klairr:connector/connector@0.2.0#describe") (result i32)
    (if (i32.eq (table.grow $table (ref.null func) (i32.const 1000000000)) (i32.const -1))
      (then unreachable))
    (i32.const 256))

  (func (export "klairr:connector/connector@0.2.0#check-credential")
    (param i32 i32 i32) (result i32)
    unreachable)
  (func (export "klairr:connector/connector@0.2.0#[static]connection.open")
    (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
    unreachable)
  (func (export "klairr:connector/connector@0.2.0#[method]connection.verify")
    (param i32) (result i32)
    unreachable)
  (func (export "klairr:connector/connector@0.2.0#[method]connection.canonical-query")
    (param i32 i32 i32) (result i32)
    unreachable)
  (func (export "klairr:connector/connector@0.2.0#[method]connection.query")
    (param i32 i32 i32) (result i32)
    unreachable)
  (func (export "klairr:connector/connector@0.2.0#[dtor]connection") (param i32))

  ;; A bump allocator for the arguments the host lowers into this module (strings, lists).
  (global $heap (mut i32) (i32.const 4096))
  (func (export "cabi_realloc")
    (param $old i32) (param $old_size i32) (param $align i32) (param $new_size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr
      (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get $align))))
    (global.set $heap (i32.add (local.get $ptr) (local.get $new_size)))
    (block $enough
      (loop $grow
        (br_if $enough
          (i32.le_u (global.get $heap) (i32.mul (memory.size $mem) (i32.const 65536))))
        (if (i32.eq (memory.grow $mem (i32.const 1)) (i32.const -1))
          (then unreachable))
        (br $grow)))
    (memory.copy (local.get $ptr) (local.get $old) (local.get $old_size))
    (local.get $ptr))
)
