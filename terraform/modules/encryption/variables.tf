variable "name" {
  description = "Name prefix (also the KMS alias)."
  type        = string
}
