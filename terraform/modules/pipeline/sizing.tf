# Sizing: each stage function's memory and timeout, and the limits that keep every input within what that memory
# holds. The rules come from bench/stage_memory.py (each stage handler in its own process, peak resident memory,
# 1M- and 10M-row uploads; bench/results/stage-memory.md):
#
# | stage    | peak memory grows with        | measured         | rule (default)                  | limit it sets                 |
# |----------|-------------------------------|------------------|---------------------------------|-------------------------------|
# | ingest   | the upload's bytes            | 6.7-7.3 B/byte   | var.upload_bytes_per_byte (12)  | POLARITY_MAX_UPLOAD_BYTES     |
# | process  | the upload's bytes            | 9.4-11.1 B/byte  | (the same rule)                 | (the same limit, at ingest)   |
# | train    | training rows                 | 376-478 B/row    | var.train_bytes_per_row (1024)  | POLARITY_TRAIN_MAX_ROWS       |
# | validate | held-out rows (all datasets)  | 480-525 B/row    | var.validate_bytes_per_row (768)| POLARITY_VALIDATE_MAX_ROWS    |
#
# Ingest and process hold the whole upload (it is read, then its rows): one upload limit at ingest, from the
# smaller of the two memories, keeps both from running out of memory; a larger upload is quarantined whole
# with the limit named. Validate's memory is computed from the held-out rows of the largest training run the
# pipeline can make (the train task's rows when there is one, else the train function's), so validate is
# never the stage that stops a dataset the trainer can take. Overrides: var.stage_sizing (per stage), and the
# per-unit rules above.

locals {
  default_sizing = {
    ingest  = { memory = 2048, timeout = 300 }
    process = { memory = 2048, timeout = 300 }
    train   = { memory = 2048, timeout = 900 }
  }
  # everything but validate's computed memory (the train rule reads this, validate's rule reads the train rule)
  base_sizing = merge(local.default_sizing, var.stage_sizing)

  # train: the rows-per-GB rule (var.train_bytes_per_row per training row) and the time rule
  # (var.train_rows_per_second); one train function takes the smaller, the train task its memory's worth
  train_max_rows = min(
    floor(local.base_sizing.train.memory * 1048576 / var.train_bytes_per_row),
    floor(local.base_sizing.train.timeout * var.train_rows_per_second),
  )
  task_max_rows = floor(var.train_task_memory * 1048576 / var.train_bytes_per_row)

  # validate: the held-out rows that go with the largest training run (test share f: f / (1 - f) held-out
  # rows per training row), at var.validate_bytes_per_row each, rounded up to 64 MB, within Lambda's 1024-10240
  test_fraction       = tonumber(lookup(var.pipeline_settings, "POLARITY_TEST_FRACTION", "0.2"))
  largest_train_rows  = local.task_enabled ? local.task_max_rows : local.train_max_rows
  held_out_rows       = ceil(local.largest_train_rows * local.test_fraction / (1 - local.test_fraction))
  validate_need_mb    = ceil(local.held_out_rows * var.validate_bytes_per_row / 1048576 / 64) * 64
  validate_default_mb = min(max(local.validate_need_mb, 1024), 10240)
  # a stage_sizing entry for validate (in base_sizing) wins over the computed memory
  sizing            = merge({ validate = { memory = local.validate_default_mb, timeout = 300 } }, local.base_sizing)
  validate_max_rows = floor(local.sizing.validate.memory * 1048576 / var.validate_bytes_per_row)

  # ingest/process: the upload rule; the user's POLARITY_MAX_UPLOAD_BYTES (default 512 MiB) when smaller
  upload_rule_bytes = floor(min(local.sizing.ingest.memory, local.sizing.process.memory) * 1048576 / var.upload_bytes_per_byte)
  upload_max_bytes  = min(local.upload_rule_bytes, tonumber(lookup(var.pipeline_settings, "POLARITY_MAX_UPLOAD_BYTES", "536870912")))

  stage_env = {
    ingest   = merge(local.function_env, { POLARITY_MAX_UPLOAD_BYTES = tostring(local.upload_max_bytes) })
    train    = local.train_env
    validate = merge(local.function_env, { POLARITY_VALIDATE_MAX_ROWS = tostring(local.validate_max_rows) })
  }
}

check "validate_holds_the_largest_training_run" {
  assert {
    condition     = local.validate_max_rows >= local.held_out_rows
    error_message = "The validate function (${local.sizing.validate.memory} MB) holds ${local.validate_max_rows} held-out rows, fewer than the ${local.held_out_rows} that go with the largest training run (${local.largest_train_rows} rows): a decision on that run would run out of memory. Raise stage_sizing.validate.memory (Lambda's maximum, 10240 MB, holds ${floor(10240 * 1048576 / var.validate_bytes_per_row)}), or lower train_task_memory."
  }
}

check "upload_limit_within_memory" {
  assert {
    condition     = tonumber(lookup(var.pipeline_settings, "POLARITY_MAX_UPLOAD_BYTES", "0")) <= local.upload_rule_bytes
    error_message = "POLARITY_MAX_UPLOAD_BYTES (${lookup(var.pipeline_settings, "POLARITY_MAX_UPLOAD_BYTES", "")}) is more than ingest/process memory holds (${local.upload_rule_bytes} bytes at ${var.upload_bytes_per_byte} B per upload byte); the ingest function gets ${local.upload_max_bytes}. Raise stage_sizing.ingest/process.memory for larger uploads."
  }
}
