"""The authors' evaluation protocol (PSNR/SSIM/EPE) and Table 2's parameter counts."""
