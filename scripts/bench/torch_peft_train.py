"""The PyTorch + PEFT side of `tunelings bench train`, for a same-machine,
same-hour comparison: Qwen2.5-0.5B's exact shape with random weights, F32,
eager, one sequence of --seq random tokens, LoRA or DoRA of rank r (alpha
2r) on all seven projections, AdamW. One warm-up step, then the mean of
--steps timed ones; peak RSS of the process. Prints one JSON line.

    python scripts/bench/torch_peft_train.py --method lora --checkpointing
"""

import argparse
import json
import resource
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import Qwen2Config, Qwen2ForCausalLM

p = argparse.ArgumentParser()
p.add_argument("--method", choices=["lora", "dora"], default="lora")
p.add_argument("--seq", type=int, default=256)
p.add_argument("--rank", type=int, default=16)
p.add_argument("--steps", type=int, default=3)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--checkpointing", action="store_true")
args = p.parse_args()

torch.set_num_threads(args.threads)
torch.manual_seed(0)
cfg = Qwen2Config(
    vocab_size=151936,
    hidden_size=896,
    intermediate_size=4864,
    num_hidden_layers=24,
    num_attention_heads=14,
    num_key_value_heads=2,
    max_position_embeddings=32768,
    rope_theta=1_000_000.0,
    rms_norm_eps=1e-6,
    tie_word_embeddings=True,
    attn_implementation="eager",
)
model = Qwen2ForCausalLM(cfg).float()
if args.checkpointing:
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
model = get_peft_model(
    model,
    LoraConfig(r=args.rank, lora_alpha=2 * args.rank, target_modules=targets, use_dora=args.method == "dora"),
)
model.train()
trainable = [q for q in model.parameters() if q.requires_grad]
opt = torch.optim.AdamW(trainable, lr=1e-4)
ids = torch.randint(0, cfg.vocab_size, (1, args.seq))

times = []
for step in range(args.steps + 1):
    t0 = time.perf_counter()
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    if step > 0:
        times.append(time.perf_counter() - t0)

step_s = sum(times) / len(times)
print(json.dumps({
    "bench": "torch_peft_train",
    "method": args.method,
    "torch": torch.__version__,
    "seq": args.seq,
    "rank": args.rank,
    "threads": args.threads,
    "checkpointing": args.checkpointing,
    "tokens_per_s": args.seq / step_s,
    "step_seconds": step_s,
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "trainable_params": sum(q.numel() for q in trainable),
}))
